import { GraphQLError } from 'graphql';

// Errors of a request's arguments, raised before any SQL, and exhaustiveness checks.

/** The argument a user sent cannot be answered; the message says which and why. */
export class BadInputError extends GraphQLError {
  constructor(message: string, field?: string) {
    super(message, { extensions: { code: 'BAD_USER_INPUT', ...(field ? { field } : {}) } });
  }
}

export class UnreachableCaseError extends Error {
  constructor(value: never) {
    super(`Unreachable case: ${JSON.stringify(value)}`);
  }
}
