import { GraphQLError } from 'graphql';

// Errors of the store: time limits and failures the client cannot fix. They carry their GraphQL
// code; the REST routes map them to statuses by class.

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
