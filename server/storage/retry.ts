/**
 * The one retry loop with exponential backoff, shared by the Executor (reads after a
 * connection failure), the EventWriter (an insert whose outcome is unknown) and the ingest CLI
 * (a batch re-sent after a connection failure or a 5xx answer). It imports nothing, so storage
 * and scripts can both use it.
 *
 * Hand-written rather than `async-retry` or `retry`: those are in node_modules only as other
 * packages' dependencies, and declaring one would add a dependency for a dozen lines. What the
 * three callers need is small but specific: a limit that depends on the failure (the CLI fails
 * fast before the service has answered once), a hook per retry (log lines and CLI messages
 * kept as they were), and the attempt number inside `fn`, where the writer settles the lost
 * insert and looks up what landed after the wait, before trying again.
 */

export interface Backoff {
  /** Wait before the first retry, in ms; doubles per retry. */
  baseMs: number;
  /** Longest wait, in ms. */
  maxMs: number;
}

/** Storage's backoff (Executor reads, EventWriter inserts): 100 ms doubling up to 2 s. */
export const STORAGE_BACKOFF: Backoff = { baseMs: 100, maxMs: 2_000 };

/** Wait before retry number `attempt + 1` (attempt 0 is the first try). */
export function retryDelayMs(attempt: number, backoff: Backoff = STORAGE_BACKOFF): number {
  return Math.min(backoff.maxMs, backoff.baseMs * 2 ** attempt);
}

export interface RetryOptions {
  /** Most retries after the first try; a function when the limit depends on the failure. */
  retries: number | ((e: unknown) => number);
  /** Whether a failure is worth another try; any other is thrown at once, as it is. */
  isRetryable(e: unknown): boolean;
  /** Before the wait of retry number `retry` (1-based), e.g. to log it. */
  onRetry?(e: unknown, retry: number): void;
  backoff?: Backoff;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Runs `fn(attempt)` (attempt 0, 1, …) until it resolves, a failure is not retryable or the
 * retries are used up; then throws the last failure unchanged. `fn` sees the attempt number,
 * so it can prepare a retry (re-look-up, a fresh id) at its start, after the wait.
 */
export async function withRetries<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (e) {
      const retries = typeof options.retries === 'function' ? options.retries(e) : options.retries;
      if (!options.isRetryable(e) || attempt >= retries) throw e;
      options.onRetry?.(e, attempt + 1);
      await sleep(retryDelayMs(attempt, options.backoff));
    }
  }
}
