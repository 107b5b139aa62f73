// npm run ingest -- FILE [--url URL] [--key KEY] [--batch N] [--retries N] [--format ndjson|csv]
// Streams an NDJSON or CSV (header row) file of any size to a running service's
// POST /v1/events in batches. Connection failures are retried with backoff; a resent
// batch is safe because eventIds dedupe. Rejected lines go to FILE.rejected.ndjson.
import { createReadStream, createWriteStream, rmSync, statSync } from 'node:fs';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { parse as parseCsv } from 'csv-parse';
import cliProgress from 'cli-progress';

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

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    url: { type: 'string', default: process.env.KPI_URL ?? 'http://127.0.0.1:4000' },
    key: { type: 'string', default: process.env.KPI_API_KEY },
    batch: { type: 'string', default: '10000' },
    retries: { type: 'string', default: '8' },
    format: { type: 'string' },
  },
});

function usage(message: string): never {
  console.error(`${message}\nUsage: npm run ingest -- FILE [--url URL] [--key KEY] [--batch N] [--retries N] [--format ndjson|csv]`);
  process.exit(2);
}

const file = positionals[0] ?? usage('No FILE given.');
const batchSize = Number(values.batch);
if (!Number.isInteger(batchSize) || batchSize < 1) usage(`--batch must be a positive integer (got ${values.batch})`);
const maxRetries = Number(values.retries);
if (!Number.isInteger(maxRetries) || maxRetries < 0) usage(`--retries must be a non-negative integer (got ${values.retries})`);
const format = values.format ?? (/\.csv$/i.test(file) ? 'csv' : 'ndjson');
if (format !== 'csv' && format !== 'ndjson') usage(`--format must be ndjson or csv (got ${format})`);
let size: number;
try {
  size = statSync(file).size;
} catch {
  usage(`Cannot read ${file}.`);
}

/** A line of the file as the bytes to send, with its 1-based line number in the file. */
interface FileLine {
  line: number;
  bytes: Buffer;
  /** File bytes read so far, for the progress bar. */
  offset: number;
}

/**
 * NDJSON lines split on '\n' only and kept as raw bytes, exactly as the service splits a
 * body: its line numbers match the file's, and a line with invalid UTF-8 reaches the service
 * (which rejects it) instead of being silently repaired by a text decoder.
 */
async function* ndjsonLines(): AsyncGenerator<FileLine> {
  let line = 0;
  let offset = 0;
  let pending: Buffer[] = [];
  for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) {
    let start = 0;
    for (let nl = chunk.indexOf(10); nl >= 0; nl = chunk.indexOf(10, start)) {
      pending.push(chunk.subarray(start, nl));
      offset += nl + 1 - start;
      yield { line: ++line, bytes: stripLine(Buffer.concat(pending), line), offset };
      pending = [];
      start = nl + 1;
    }
    if (start < chunk.length) pending.push(chunk.subarray(start));
    offset += chunk.length - start;
  }
  if (pending.length > 0) yield { line: ++line, bytes: stripLine(Buffer.concat(pending), line), offset };
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
    for await (let chunk of createReadStream(file) as AsyncIterable<Buffer>) {
      if (offset === 0 && chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf) chunk = chunk.subarray(3);
      for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) newlines.push(offset + i);
      offset += chunk.length;
      yield chunk;
    }
  }
  const parser = Readable.from(counted()).pipe(parseCsv({ columns: true, skip_empty_lines: true, relax_column_count: true, info: true }));
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
    const event: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(record)) {
      if (v === '') continue;
      event[k] = NUMERIC_CSV_FIELDS.has(k) && /^-?\d+$/.test(v) ? Number(v) : v;
    }
    yield { line: passed + 1, bytes: Buffer.from(JSON.stringify(event)), offset: info.bytes };
  }
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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function send(batch: Batch, onRetry: (attempt: number, reason: string) => void): Promise<{ accepted: number; duplicates: number; rejected: { line: number; eventId: string | null; errors: string[] }[] }> {
  for (let attempt = 0; ; attempt++) {
    try {
      const res = await fetch(`${values.url}/v1/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-ndjson', ...(values.key ? { authorization: `Bearer ${values.key}` } : {}) },
        body: Buffer.concat(batch.lines.flatMap((l) => [l, NEWLINE])),
      });
      if (res.status === 200) return (await res.json()) as never;
      const body = await res.text();
      if (res.status >= 500) throw new Error(`HTTP ${res.status}: ${body.slice(0, 200)}`);
      console.error(`\nThe service refused the batch starting at line ${batch.numbers[0]}: HTTP ${res.status} ${body.slice(0, 300)}`);
      process.exit(1);
    } catch (e) {
      if (attempt >= maxRetries) throw e;
      const delay = Math.min(30_000, 500 * 2 ** attempt);
      onRetry(attempt + 1, reason(e));
      await sleep(delay);
    }
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
  const flush = async (batch: Batch) => {
    if (batch.lines.length === 0) return;
    const answer = await send(batch, (attempt, why) => {
      console.error(`\nconnection problem (${why}); retry ${attempt}/${maxRetries} — resent events are deduplicated by eventId`);
    });
    totals.accepted += answer.accepted;
    totals.duplicates += answer.duplicates;
    totals.rejected += answer.rejected.length;
    for (const r of answer.rejected) {
      side ??= createWriteStream(sideFile);
      // Invalid UTF-8 shows as U+FFFD here; the line number points at the original bytes.
      const text = batch.lines[r.line - 1]!.toString('utf8');
      side.write(`${JSON.stringify({ line: batch.numbers[r.line - 1], eventId: r.eventId, errors: r.errors, text })}\n`);
    }
    report();
  };
  let batch: Batch = { lines: [], numbers: [] };
  for await (const { line, bytes: lineBytes, offset } of format === 'csv' ? csvLines() : ndjsonLines()) {
    bytes = offset;
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
  process.exit(totals.rejected > 0 ? 1 : 0);
}

main().catch((e) => {
  console.error(`\ningest failed: ${(e as Error).message}`);
  process.exit(1);
});
