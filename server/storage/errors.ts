// Errors as every layer raises them, free of any transport: a code, and what a client needs to
// act on it. The edges map them: GraphQL to `extensions.code` (server/app.ts, formatError),
// REST to a status and `{ error: { code, message } }` (server/http.ts, sendKpiError).

/** What went wrong, in the words every transport uses. */
export type ErrorCode = 'BAD_USER_INPUT' | 'TIMEOUT' | 'STORAGE_ERROR' | 'ERASURE_KEY_MISSING' | 'INGEST_DISABLED' | 'NOT_LEASE_HOLDER';

export class KpiError extends Error {
  constructor(
    message: string,
    readonly code: ErrorCode,
    /** The argument at fault, for BAD_USER_INPUT. */
    readonly field?: string,
    /** The request it belongs to, so a client can quote it. */
    readonly requestId?: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class TimeoutError extends KpiError {
  constructor(limitSeconds: number, requestId: string) {
    super(
      `The query ran past its time limit of ${limitSeconds} s and was stopped. Narrow the window or filter, or raise QUERY_MAX_EXECUTION_TIME.`,
      'TIMEOUT',
      undefined,
      requestId,
    );
  }
}

/** The request's statements together ran past GRAPHQL_MAX_REQUEST_TIME. */
export class RequestTimeoutError extends KpiError {
  constructor(limitSeconds: number, requestId: string) {
    super(
      `The request ran past its time budget of ${limitSeconds} s and was stopped. Ask for less in one request (fewer periods, ids or aliases), or raise GRAPHQL_MAX_REQUEST_TIME.`,
      'TIMEOUT',
      undefined,
      requestId,
    );
  }
}

/** Storage failed in a way the client cannot fix; the full error goes to the log only. */
export class StorageUnavailableError extends KpiError {
  constructor(requestId: string) {
    super(`The analytics store could not answer this request (request id ${requestId}).`, 'STORAGE_ERROR', undefined, requestId);
  }
}

/**
 * Erased customers are known only by HMAC under ERASURE_HMAC_KEY: without the key the service can
 * neither erase nor tell a replayed event of an erased customer (docs/architecture.md, "Erasure").
 */
export class ErasureKeyMissingError extends KpiError {
  constructor(requestId: string | undefined, why: string) {
    super(`ERASURE_HMAC_KEY is not set: ${why}. Set it (README, "Erasure") and restart; once erasures exist, keep the same key.`, 'ERASURE_KEY_MISSING', undefined, requestId);
  }
}

/** A read replica (INGEST=off) refuses every write; sending it elsewhere is the only fix. */
export class IngestDisabledError extends KpiError {
  constructor(requestId?: string) {
    super('This instance is a read replica (INGEST=off): it stores no events. Send writes to the instance that holds the writer lease.', 'INGEST_DISABLED', undefined, requestId);
  }
}

/**
 * Another process holds the writer lease of this database, or this one's lapsed (docs/architecture.md,
 * "One writer"). Transient: the holder may stop, and this instance takes over once its lease expires.
 */
export class NotLeaseHolderError extends KpiError {
  constructor(reason: string, requestId?: string) {
    super(`This instance may not write now: ${reason}. Send writes to the holder, or re-send once the lease has expired and this instance has taken over.`, 'NOT_LEASE_HOLDER', undefined, requestId);
  }
}
