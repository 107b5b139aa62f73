// Sending events to POST /v1/events in batches, shared by `npm run ingest` and `npm run import`:
// progress, retries with backoff, the rejected-lines side file (complete past the 1,000 an
// answer lists) and the summary line. Exit codes (README, "Sending events"): 0 all stored,
// 1 some lines rejected, 2 bad usage or input, 3 stopped early.
import { createWriteStream, rmSync } from 'node:fs';
import cliProgress from 'cli-progress';
import type { IngestAnswer } from '../../server/ingest-route.js';
import { withRetries, type Backoff } from '../../server/storage/retry.js';
import type { FileLine } from './event-files.js';

export const EXIT_REJECTED = 1;
export const EXIT_USAGE = 2;
export const EXIT_STOPPED = 3;

/** The parseArgs options of the sender, the same for every CLI that streams events. */
export const SENDER_ARGS = {
  url: { type: 'string', default: process.env.KPI_URL ?? 'http://127.0.0.1:4000' },
  key: { type: 'string', default: process.env.KPI_API_KEY },
  batch: { type: 'string', default: '10000' },
  retries: { type: 'string', default: '8' },
} as const;

export interface SenderOptions {
  baseUrl: string;
  key: string | undefined;
  batchSize: number;
  maxRetries: number;
}

/** The sender's options checked, or the reason they are not usable. */
export function senderOptions(values: { url: string; key?: string; batch: string; retries: string }): SenderOptions | string {
  // A base URL ending in '/' would make `//v1/events`.
  const baseUrl = values.url.replace(/\/+$/, '');
  if (!/^https?:$/.test(URL.canParse(baseUrl) ? new URL(baseUrl).protocol : '')) return `--url must be an http:// or https:// URL (got ${JSON.stringify(values.url)})`;
  const batchSize = Number(values.batch);
  if (!Number.isInteger(batchSize) || batchSize < 1) return `--batch must be a positive integer (got ${values.batch})`;
  const maxRetries = Number(values.retries);
  if (!Number.isInteger(maxRetries) || maxRetries < 0) return `--retries must be a non-negative integer (got ${values.retries})`;
  return { baseUrl, key: values.key, batchSize, maxRetries };
}

export interface Totals {
  lines: number;
  accepted: number;
  duplicates: number;
  rejected: number;
}

/** A line the caller rejected before sending: it goes to the side file (without the row's text when that could hold personal data) and counts as rejected. */
export interface LocalRejection {
  line: number;
  eventId: string | null;
  errors: string[];
}

export type Outgoing = FileLine | { rejection: LocalRejection };

interface SideEntry extends LocalRejection {
  text?: string;
}

interface Batch {
  lines: Buffer[];
  /** File line number of each line. */
  numbers: number[];
  local: LocalRejection[];
}

/** Until the service has answered once, a connection error is most likely a wrong URL or a stopped service: fail fast. */
const FIRST_CONTACT_RETRIES = 2;
/** Between re-sends of a batch: 0.5 s doubling up to 30 s, long enough to ride out a service restart. */
const SEND_BACKOFF: Backoff = { baseMs: 500, maxMs: 30_000 };
const NEWLINE = Buffer.from('\n');

/** A 4xx or 5xx after the retries: stop (exit 3); the batches before are stored. */
export class RefusedError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

/** fetch hides the socket error in `cause`. */
function reason(e: unknown): string {
  const err = e as Error & { cause?: Error & { code?: string } };
  return err.cause ? `${err.message}: ${err.cause.code ?? err.cause.message}` : err.message;
}

/** The request got no answer (fetch failed). */
class Unreachable extends Error {
  constructor(override readonly cause: unknown) {
    super(reason(cause));
  }
}

/** Only space, tab and CR: the service's definition of a blank line. */
function isBlank(b: Buffer): boolean {
  for (const c of b) if (c !== 32 && c !== 9 && c !== 13) return false;
  return true;
}

export interface StreamOptions extends SenderOptions {
  /** The bar's and the messages' name of the CLI (`ingest`, `import`). */
  label: string;
  sideFile: string;
  /** Total and current position in the input for the progress bar (file bytes). */
  size: number;
  position: () => number;
}

/**
 * Sends every line of `items` and writes the rejected ones (the service's and the caller's,
 * in line order within a batch) to the side file. Resolves with the totals once all is sent;
 * rejects with RefusedError when the service cannot be reached or refuses a batch.
 */
export async function streamEvents(items: AsyncIterable<Outgoing>, o: StreamOptions): Promise<{ totals: Totals; seconds: number }> {
  const totals: Totals = { lines: 0, accepted: 0, duplicates: 0, rejected: 0 };
  // A side file left by an earlier run would describe lines this run may have stored.
  rmSync(o.sideFile, { force: true });
  let side: ReturnType<typeof createWriteStream> | undefined;
  let answered = false; // from then on a connection error is a restart worth waiting for
  const started = Date.now();
  const bar = process.stderr.isTTY
    ? new cliProgress.SingleBar(
        { format: `${o.label} |{bar}| {percentage}% | {events} events | {rate}/s | accepted {accepted} | duplicates {duplicates} | rejected {rejected}`, hideCursor: true },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  const payload = () => ({
    events: totals.lines,
    rate: Math.round(totals.lines / Math.max(0.001, (Date.now() - started) / 1000)),
    accepted: totals.accepted,
    duplicates: totals.duplicates,
    rejected: totals.rejected,
  });
  bar?.start(o.size, 0, payload());
  const report = () => {
    if (bar) bar.update(Math.min(o.position(), o.size), payload());
    else {
      const p = payload();
      console.error(`progress: ${p.events} events, ${p.rate}/s, accepted ${p.accepted}, duplicates ${p.duplicates}, rejected ${p.rejected}`);
    }
  };
  const onRetry = (attempt: number, limit: number, why: string) => {
    console.error(`\nconnection problem with ${o.baseUrl} (${why}); retry ${attempt}/${limit} — resent events are deduplicated by eventId`);
  };

  /** POSTs lines[from..] of a batch; retries connection errors and 5xx answers with backoff. */
  const send = async (batch: Batch, from: number): Promise<IngestAnswer> => {
    const connectionRetries = () => (answered ? o.maxRetries : Math.min(o.maxRetries, FIRST_CONTACT_RETRIES));
    let retried = 0;
    try {
      return await withRetries(
        async (attempt) => {
          retried = attempt;
          let res: Response;
          try {
            res = await fetch(`${o.baseUrl}/v1/events`, {
              method: 'POST',
              headers: { 'content-type': 'application/x-ndjson', ...(o.key ? { authorization: `Bearer ${o.key}` } : {}) },
              body: Buffer.concat(batch.lines.slice(from).flatMap((l) => [l, NEWLINE])),
            });
          } catch (e) {
            throw new Unreachable(e);
          }
          answered = true;
          if (res.status === 200) return (await res.json()) as IngestAnswer;
          const body = await res.text();
          throw new RefusedError(`The service at ${o.baseUrl} refused the batch starting at line ${batch.numbers[from]}: HTTP ${res.status} ${body.slice(0, 300)}`, res.status);
        },
        {
          retries: (e) => (e instanceof Unreachable ? connectionRetries() : o.maxRetries),
          isRetryable: (e) => e instanceof Unreachable || (e instanceof RefusedError && (e.status ?? 0) >= 500),
          onRetry: (e, retry) =>
            e instanceof Unreachable ? onRetry(retry, connectionRetries(), e.message) : onRetry(retry, o.maxRetries, `HTTP ${(e as RefusedError).status}`),
          backoff: SEND_BACKOFF,
        },
      );
    } catch (e) {
      if (!(e instanceof Unreachable)) throw e;
      throw new RefusedError(
        answered
          ? `The service at ${o.baseUrl} stopped answering (${e.message}); gave up after ${retried} retries at the batch starting at line ${batch.numbers[from]}. The lines before it are stored; running the same command again is safe.`
          : `Cannot reach the service at ${o.baseUrl} (${e.message}). Is it running (npm start)? Point --url or KPI_URL at it.`,
      );
    }
  };

  const flush = async (batch: Batch) => {
    // Counted as the batch is answered, so progress never runs ahead of what the service took.
    const entries: SideEntry[] = [...batch.local];
    if (batch.lines.length > 0) {
      let answer = await send(batch, 0);
      totals.accepted += answer.accepted;
      totals.duplicates += answer.duplicates;
      totals.rejected += answer.rejectedCount;
      // The service lists the first 1,000 rejected lines of a body; the rest are asked for by
      // sending the lines after the last one listed again. Their valid events come back as
      // duplicates, so only the first answer's counts are added.
      for (let from = 0; ; ) {
        for (const r of answer.rejected) {
          const i = from + r.line - 1;
          // Invalid UTF-8 shows as U+FFFD here; the line number points at the original bytes.
          entries.push({ line: batch.numbers[i]!, eventId: r.eventId, errors: r.errors, text: batch.lines[i]!.toString('utf8') });
        }
        const last = answer.rejected.at(-1);
        if (last === undefined || answer.rejectedCount <= answer.rejected.length) break;
        from += last.line;
        answer = await send(batch, from);
      }
    }
    totals.lines += batch.lines.length + batch.local.length;
    totals.rejected += batch.local.length;
    if (batch.local.length > 0) entries.sort((a, b) => a.line - b.line);
    for (const e of entries) {
      side ??= createWriteStream(o.sideFile);
      side.write(`${JSON.stringify(e)}\n`);
    }
    if (batch.lines.length > 0 || batch.local.length > 0) report();
  };

  let batch: Batch = { lines: [], numbers: [], local: [] };
  // One batch at the service at a time, the next one read and made meanwhile: the importer's
  // parsing no longer waits for the service's answer (flushes stay in order, and a failed one
  // stops the run before the next is sent).
  let sending: Promise<void> = Promise.resolve();
  try {
    for await (const item of items) {
      if ('rejection' in item) {
        batch.local.push(item.rejection);
      } else {
        if (isBlank(item.bytes)) continue;
        batch.lines.push(item.bytes);
        batch.numbers.push(item.line);
      }
      if (batch.lines.length + batch.local.length >= o.batchSize) {
        await sending;
        sending = flush(batch);
        // Awaited before the next flush or at the end; until then a failure must not count as unhandled.
        sending.catch(() => undefined);
        batch = { lines: [], numbers: [], local: [] };
      }
    }
  } catch (e) {
    // The file failed (unreadable, not UTF-8): the batch at the service finishes first, so what
    // the error message says was sent is stored.
    await sending.catch(() => undefined);
    throw e;
  }
  await sending;
  await flush(batch);
  bar?.update(o.size, payload());
  bar?.stop();
  if (side) await new Promise((r) => side!.end(r));
  return { totals, seconds: (Date.now() - started) / 1000 };
}

/** The closing line both CLIs print on stdout. */
export function summaryLine(totals: Totals, seconds: number, sideFile: string): string {
  return (
    `done: ${totals.lines} events in ${seconds.toFixed(1)} s (${Math.round(totals.lines / Math.max(seconds, 0.001))}/s): ` +
    `accepted ${totals.accepted}, duplicates ${totals.duplicates}, rejected ${totals.rejected}` +
    (totals.rejected > 0 ? ` — rejected lines written to ${sideFile}` : '')
  );
}
