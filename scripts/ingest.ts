// npm run ingest -- FILE [--url URL] [--key KEY] [--batch N] [--retries N] [--format ndjson|csv] [--type TYPE]
// Streams an NDJSON or CSV (header row) file of any size, gzipped or not, to a running
// service's POST /v1/events in batches. Connection failures are retried with backoff; a
// resent batch is safe because eventIds dedupe. Rejected lines go to FILE.rejected.ndjson.
// Exit codes (README, "Sending events"): 0 all stored, 1 some lines rejected, 2 bad usage or
// input, 3 stopped early (service unreachable or refusing).
import { createReadStream, createWriteStream, rmSync, statSync } from 'node:fs';
import { Readable, pipeline } from 'node:stream';
import { parseArgs } from 'node:util';
import { createGunzip } from 'node:zlib';
import { parse as parseCsv } from 'csv-parse';
import cliProgress from 'cli-progress';
import type { IngestAnswer } from '../server/ingest-route.js';
import { EVENT_TYPES } from '../server/ingest/validate.js';
import { withRetries, type Backoff } from '../server/storage/retry.js';

interface Totals {
  lines: number;
  accepted: number;
  duplicates: number;
  rejected: number;
}

interface Batch {
  lines: Buffer[];
  /** File line number of each line. */
  numbers: number[];
}

const NUMERIC_CSV_FIELDS = new Set(['score']);
/** Until the service has answered once, a connection error is most likely a wrong URL or a stopped service: fail fast. */
const FIRST_CONTACT_RETRIES = 2;

const EXIT_REJECTED = 1;
const EXIT_USAGE = 2;
const EXIT_STOPPED = 3;

/** Bad options or an unreadable file: exit 2. */
class InputError extends Error {}

const USAGE = 'Usage: npm run ingest -- FILE [--url URL] [--key KEY] [--batch N] [--retries N] [--format ndjson|csv] [--type TYPE]';

function usage(message: string): never {
  console.error(`${message}\n${USAGE}`);
  process.exit(EXIT_USAGE);
}

let parsed;
try {
  parsed = parseArgs({
    allowPositionals: true,
    options: {
      url: { type: 'string', default: process.env.KPI_URL ?? 'http://127.0.0.1:4000' },
      key: { type: 'string', default: process.env.KPI_API_KEY },
      batch: { type: 'string', default: '10000' },
      retries: { type: 'string', default: '8' },
      format: { type: 'string' },
      type: { type: 'string' },
    },
  });
} catch (e) {
  usage((e as Error).message);
}
const { values, positionals } = parsed;

const file = positionals[0] ?? usage('No FILE given.');
// A base URL ending in '/' would make `//v1/events`.
const baseUrl = values.url.replace(/\/+$/, '');
if (!/^https?:$/.test(URL.canParse(baseUrl) ? new URL(baseUrl).protocol : '')) usage(`--url must be an http:// or https:// URL (got ${JSON.stringify(values.url)})`);
const batchSize = Number(values.batch);
if (!Number.isInteger(batchSize) || batchSize < 1) usage(`--batch must be a positive integer (got ${values.batch})`);
const maxRetries = Number(values.retries);
if (!Number.isInteger(maxRetries) || maxRetries < 0) usage(`--retries must be a non-negative integer (got ${values.retries})`);
const gzipped = /\.gz$/i.test(file);
const format = values.format ?? (/\.csv(\.gz)?$/i.test(file) ? 'csv' : 'ndjson');
if (format !== 'csv' && format !== 'ndjson') usage(`--format must be ndjson or csv (got ${format})`);
const csvType = values.type;
if (csvType !== undefined && !(EVENT_TYPES as readonly string[]).includes(csvType)) usage(`--type must be one of ${EVENT_TYPES.join(', ')} (got ${csvType})`);
if (csvType !== undefined && format !== 'csv') usage('--type applies to CSV files (NDJSON lines carry their own type).');
let size: number;
try {
  size = statSync(file).size;
} catch {
  usage(`Cannot read ${file}.`);
}

/** File bytes read so far (compressed ones for a .gz file), for the progress bar. */
let bytesRead = 0;

async function* fileBytes(): AsyncGenerator<Buffer> {
  const stream = createReadStream(file);
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      bytesRead += chunk.length;
      yield chunk;
    }
  } catch (e) {
    throw new InputError(`Cannot read ${file}: ${(e as Error).message}`);
  }
}

/** The file's content, decompressed as it streams when the name ends in .gz. */
async function* content(): AsyncGenerator<Buffer> {
  if (!gzipped) return yield* fileBytes();
  const gunzip = pipeline(Readable.from(fileBytes()), createGunzip(), () => {});
  try {
    yield* gunzip as AsyncIterable<Buffer>;
  } catch (e) {
    throw e instanceof InputError ? e : new InputError(`Cannot decompress ${file}: ${(e as Error).message}`);
  }
}

/** A line of the file as the bytes to send, with its 1-based line number in the file. */
interface FileLine {
  line: number;
  bytes: Buffer;
}

/**
 * NDJSON lines split on '\n' only and kept as raw bytes, exactly as the service splits a
 * body: its line numbers match the file's, and a line with invalid UTF-8 reaches the service
 * (which rejects it) instead of being silently repaired by a text decoder.
 */
async function* ndjsonLines(): AsyncGenerator<FileLine> {
  let line = 0;
  let pending: Buffer[] = [];
  for await (const chunk of content()) {
    let start = 0;
    for (let nl = chunk.indexOf(10); nl >= 0; nl = chunk.indexOf(10, start)) {
      pending.push(chunk.subarray(start, nl));
      yield { line: ++line, bytes: stripLine(Buffer.concat(pending), line) };
      pending = [];
      start = nl + 1;
    }
    if (start < chunk.length) pending.push(chunk.subarray(start));
  }
  if (pending.length > 0) yield { line: ++line, bytes: stripLine(Buffer.concat(pending), line) };
}

/** Without a trailing '\r' and, on the first line, a UTF-8 byte order mark. */
function stripLine(b: Buffer, line: number): Buffer {
  let start = 0;
  let end = b.length;
  if (line === 1 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) start = 3;
  if (end > start && b[end - 1] === 13) end--;
  return b.subarray(start, end);
}

/**
 * CSV records (header row first) as NDJSON lines, numbered by the file line where the record
 * ends. The numbers come from our own count of '\n' bytes up to the record's end offset:
 * csv-parse's `info.lines` counts a CRLF inside a quoted field as two lines.
 */
async function* csvLines(): AsyncGenerator<FileLine> {
  const newlines: number[] = []; // offsets of '\n' not yet passed by a record
  let passed = 0; // '\n' bytes before the last record's end
  let next = 0; // index into newlines
  async function* counted(): AsyncGenerator<Buffer> {
    let offset = 0;
    for await (let chunk of content()) {
      if (offset === 0 && chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf) chunk = chunk.subarray(3);
      for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) newlines.push(offset + i);
      offset += chunk.length;
      yield chunk;
    }
  }
  const parser = Readable.from(counted()).pipe(parseCsv({ columns: csvHeader, skip_empty_lines: true, relax_column_count: true, info: true }));
  for await (const { record, info } of parser as AsyncIterable<{ record: Record<string, string>; info: { bytes: number } }>) {
    // info.bytes is just past the record's own '\n' (or the end of the file)
    while (next < newlines.length && newlines[next]! < info.bytes - 1) {
      next++;
      passed++;
    }
    if (next > 100_000) {
      newlines.splice(0, next);
      next = 0;
    }
    const event: Record<string, unknown> = csvType === undefined ? {} : { type: csvType };
    for (const [k, v] of Object.entries(record)) {
      if (v === '') continue;
      event[k] = NUMERIC_CSV_FIELDS.has(k) && /^-?\d+$/.test(v) ? Number(v) : v;
    }
    yield { line: passed + 1, bytes: Buffer.from(JSON.stringify(event)) };
  }
}

/** Checked once: without a `type` column every record would be rejected for the same reason. */
function csvHeader(header: string[]): string[] {
  if (csvType === undefined && !header.includes('type')) {
    throw new InputError(
      `${file}: the CSV header has no "type" column (columns: ${header.join(', ') || 'none'}). ` +
        `Add a type column (${EVENT_TYPES.join(', ')}) or pass --type when every row is of one type.`,
    );
  }
  return header;
}

/** Only space, tab and CR: the service's definition of a blank line. */
function isBlank(b: Buffer): boolean {
  for (const c of b) if (c !== 32 && c !== 9 && c !== 13) return false;
  return true;
}

const NEWLINE = Buffer.from('\n');

/** fetch hides the socket error in `cause`. */
function reason(e: unknown): string {
  const err = e as Error & { cause?: Error & { code?: string } };
  return err.cause ? `${err.message}: ${err.cause.code ?? err.cause.message}` : err.message;
}

/** Between re-sends of a batch: 0.5 s doubling up to 30 s, long enough to ride out a service restart. */
const SEND_BACKOFF: Backoff = { baseMs: 500, maxMs: 30_000 };

/** A 4xx or 5xx after the retries: stop (exit 3); the batches before are stored. */
class RefusedError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

/** The request got no answer (fetch failed). */
class Unreachable extends Error {
  constructor(override readonly cause: unknown) {
    super(reason(cause));
  }
}

/** Whether the service has answered once: from then on a connection error is a restart worth waiting for. */
let answered = false;

/** POSTs lines[from..] of a batch; retries connection errors and 5xx answers with backoff. */
async function send(batch: Batch, from: number, onRetry: (attempt: number, limit: number, reason: string) => void): Promise<IngestAnswer> {
  const connectionRetries = () => (answered ? maxRetries : Math.min(maxRetries, FIRST_CONTACT_RETRIES));
  let retried = 0;
  try {
    return await withRetries(
      async (attempt) => {
        retried = attempt;
        let res: Response;
        try {
          res = await fetch(`${baseUrl}/v1/events`, {
            method: 'POST',
            headers: { 'content-type': 'application/x-ndjson', ...(values.key ? { authorization: `Bearer ${values.key}` } : {}) },
            body: Buffer.concat(batch.lines.slice(from).flatMap((l) => [l, NEWLINE])),
          });
        } catch (e) {
          throw new Unreachable(e);
        }
        answered = true;
        if (res.status === 200) return (await res.json()) as IngestAnswer;
        const body = await res.text();
        throw new RefusedError(`The service at ${baseUrl} refused the batch starting at line ${batch.numbers[from]}: HTTP ${res.status} ${body.slice(0, 300)}`, res.status);
      },
      {
        retries: (e) => (e instanceof Unreachable ? connectionRetries() : maxRetries),
        isRetryable: (e) => e instanceof Unreachable || (e instanceof RefusedError && (e.status ?? 0) >= 500),
        onRetry: (e, retry) =>
          e instanceof Unreachable ? onRetry(retry, connectionRetries(), e.message) : onRetry(retry, maxRetries, `HTTP ${(e as RefusedError).status}`),
        backoff: SEND_BACKOFF,
      },
    );
  } catch (e) {
    if (!(e instanceof Unreachable)) throw e;
    throw new RefusedError(
      answered
        ? `The service at ${baseUrl} stopped answering (${e.message}); gave up after ${retried} retries at the batch starting at line ${batch.numbers[from]}. The lines before it are stored; running the same command again is safe.`
        : `Cannot reach the service at ${baseUrl} (${e.message}). Is it running (npm start)? Point --url or KPI_URL at it.`,
    );
  }
}

async function main() {
  const totals: Totals = { lines: 0, accepted: 0, duplicates: 0, rejected: 0 };
  const sideFile = `${file}.rejected.ndjson`;
  // A side file left by an earlier run would describe lines this run may have stored.
  rmSync(sideFile, { force: true });
  let side: ReturnType<typeof createWriteStream> | undefined;
  const started = Date.now();
  const tty = process.stderr.isTTY;
  const bar = tty
    ? new cliProgress.SingleBar(
        { format: 'ingest |{bar}| {percentage}% | {events} events | {rate}/s | accepted {accepted} | duplicates {duplicates} | rejected {rejected}', hideCursor: true },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  let bytes = 0;
  const payload = () => ({
    events: totals.lines,
    rate: Math.round(totals.lines / Math.max(0.001, (Date.now() - started) / 1000)),
    accepted: totals.accepted,
    duplicates: totals.duplicates,
    rejected: totals.rejected,
  });
  bar?.start(size, 0, payload());
  const report = () => {
    if (bar) bar.update(Math.min(bytes, size), payload());
    else {
      const p = payload();
      console.error(`progress: ${p.events} events, ${p.rate}/s, accepted ${p.accepted}, duplicates ${p.duplicates}, rejected ${p.rejected}`);
    }
  };
  const onRetry = (attempt: number, limit: number, why: string) => {
    console.error(`\nconnection problem with ${baseUrl} (${why}); retry ${attempt}/${limit} — resent events are deduplicated by eventId`);
  };
  const flush = async (batch: Batch) => {
    if (batch.lines.length === 0) return;
    let answer = await send(batch, 0, onRetry);
    totals.accepted += answer.accepted;
    totals.duplicates += answer.duplicates;
    totals.rejected += answer.rejectedCount;
    // The service lists the first 1,000 rejected lines of a body; the rest are asked for by
    // sending the lines after the last one listed again. Their valid events come back as
    // duplicates, so only the first answer's counts are added.
    for (let from = 0; ; ) {
      for (const r of answer.rejected) {
        side ??= createWriteStream(sideFile);
        const i = from + r.line - 1;
        // Invalid UTF-8 shows as U+FFFD here; the line number points at the original bytes.
        side.write(`${JSON.stringify({ line: batch.numbers[i], eventId: r.eventId, errors: r.errors, text: batch.lines[i]!.toString('utf8') })}\n`);
      }
      const last = answer.rejected.at(-1);
      if (last === undefined || answer.rejectedCount <= answer.rejected.length) break;
      from += last.line;
      answer = await send(batch, from, onRetry);
    }
    report();
  };
  let batch: Batch = { lines: [], numbers: [] };
  for await (const { line, bytes: lineBytes } of format === 'csv' ? csvLines() : ndjsonLines()) {
    bytes = bytesRead;
    if (isBlank(lineBytes)) continue;
    totals.lines++;
    batch.lines.push(lineBytes);
    batch.numbers.push(line);
    if (batch.lines.length >= batchSize) {
      await flush(batch);
      batch = { lines: [], numbers: [] };
    }
  }
  await flush(batch);
  bar?.update(size, payload());
  bar?.stop();
  if (side) await new Promise((r) => side!.end(r));
  const seconds = (Date.now() - started) / 1000;
  console.log(
    `done: ${totals.lines} events in ${seconds.toFixed(1)} s (${Math.round(totals.lines / Math.max(seconds, 0.001))}/s): ` +
      `accepted ${totals.accepted}, duplicates ${totals.duplicates}, rejected ${totals.rejected}` +
      (totals.rejected > 0 ? ` — rejected lines written to ${sideFile}` : ''),
  );
  process.exit(totals.rejected > 0 ? EXIT_REJECTED : 0);
}

main().catch((e) => {
  console.error(`\ningest failed: ${(e as Error).message}`);
  process.exit(e instanceof InputError ? EXIT_USAGE : EXIT_STOPPED);
});
