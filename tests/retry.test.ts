import { describe, expect, it } from 'vitest';
import { retryDelayMs, withRetries } from '../server/storage/retry.js';

// The shared retry loop on its own; its three users are tested in storage-retry,
// ingest-writer and ingest-cli. No waits: backoff 0.
const NO_WAIT = { baseMs: 0, maxMs: 0 };

class Flaky extends Error {}

describe('withRetries', () => {
  it('tries once more per retry, numbering the retries from 1, and returns the first success', async () => {
    const seen: number[] = [];
    const retries: number[] = [];
    const result = await withRetries(
      async (attempt) => {
        seen.push(attempt);
        if (attempt < 2) throw new Flaky();
        return 'ok';
      },
      { retries: 3, isRetryable: (e) => e instanceof Flaky, onRetry: (_e, retry) => retries.push(retry), backoff: NO_WAIT },
    );
    expect(result).toBe('ok');
    expect(seen).toEqual([0, 1, 2]);
    expect(retries).toEqual([1, 2]);
  });

  it('throws the last failure unchanged once the retries are used up', async () => {
    let calls = 0;
    const last = new Flaky('third');
    await expect(
      withRetries(
        async () => {
          calls++;
          throw calls === 3 ? last : new Flaky();
        },
        { retries: 2, isRetryable: (e) => e instanceof Flaky, backoff: NO_WAIT },
      ),
    ).rejects.toBe(last);
    expect(calls).toBe(3);
  });

  it('throws a failure that is not retryable at once', async () => {
    let calls = 0;
    const fatal = new Error('fatal');
    await expect(
      withRetries(
        async () => {
          calls++;
          throw fatal;
        },
        { retries: 5, isRetryable: (e) => e instanceof Flaky, backoff: NO_WAIT },
      ),
    ).rejects.toBe(fatal);
    expect(calls).toBe(1);
  });

  it('takes the limit from the failure when retries is a function', async () => {
    let calls = 0;
    await expect(
      withRetries(
        async () => {
          calls++;
          throw new Flaky();
        },
        { retries: (e) => (e instanceof Flaky ? 1 : 10), isRetryable: () => true, backoff: NO_WAIT },
      ),
    ).rejects.toBeInstanceOf(Flaky);
    expect(calls).toBe(2);
  });
});

describe('retryDelayMs', () => {
  it('doubles from the base up to the maximum', () => {
    expect([0, 1, 2, 3, 4, 5].map((a) => retryDelayMs(a))).toEqual([100, 200, 400, 800, 1600, 2000]);
    expect([0, 1, 5, 6, 7].map((a) => retryDelayMs(a, { baseMs: 500, maxMs: 30_000 }))).toEqual([500, 1000, 16_000, 30_000, 30_000]);
  });
});
