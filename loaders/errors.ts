import { KpiError } from '../server/storage/errors.js';

/** The argument a user sent cannot be answered; the message says which and why. */
export class BadInputError extends KpiError {
  constructor(message: string, field?: string) {
    super(message, 'BAD_USER_INPUT', field);
  }
}

export class UnreachableCaseError extends Error {
  constructor(value: never) {
    super(`Unreachable case: ${JSON.stringify(value)}`);
  }
}
