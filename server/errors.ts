import { GraphQLError } from 'graphql';

/** The argument a user sent cannot be answered; the message says which and why. */
export class BadInputError extends GraphQLError {
  constructor(message: string, field?: string) {
    super(message, { extensions: { code: 'BAD_USER_INPUT', ...(field ? { field } : {}) } });
  }
}

export class TimeoutError extends GraphQLError {
  constructor(limitSeconds: number, requestId: string) {
    super(
      `The query ran past its time limit of ${limitSeconds} s and was stopped. Narrow the window or filter, or raise QUERY_MAX_EXECUTION_TIME.`,
      { extensions: { code: 'TIMEOUT', requestId } },
    );
  }
}

/** The request's statements together ran past GRAPHQL_MAX_REQUEST_TIME. */
export class RequestTimeoutError extends GraphQLError {
  constructor(limitSeconds: number, requestId: string) {
    super(
      `The request ran past its time budget of ${limitSeconds} s and was stopped. Ask for less in one request (fewer periods, ids or aliases), or raise GRAPHQL_MAX_REQUEST_TIME.`,
      { extensions: { code: 'TIMEOUT', requestId } },
    );
  }
}

/** Storage failed in a way the client cannot fix; the full error goes to the log only. */
export class StorageUnavailableError extends GraphQLError {
  constructor(requestId: string) {
    super(`The analytics store could not answer this request (request id ${requestId}).`, {
      extensions: { code: 'STORAGE_ERROR', requestId },
    });
  }
}

export class UnreachableCaseError extends Error {
  constructor(value: never) {
    super(`Unreachable case: ${JSON.stringify(value)}`);
  }
}
