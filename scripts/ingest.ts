// npm run ingest -- FILE [--url URL] [--key KEY] [--batch N] [--atomic]
// Streams an NDJSON or CSV (header row) file of any size to a running service's
// POST /v1/events in batches. Connection failures are retried with backoff; a resent
// batch is safe because eventIds dedupe. Rejected lines go to FILE.rejected.ndjson.
import { createReadStream, createWriteStream, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
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
  firstLine: number;
  lines: string[];
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
  console.error(`${message}\nUsage: npm run ingest -- FILE [--url URL] [--key KEY] [--batch N] [--format ndjson|csv]`);
  process.exit(2);
}

const file = positionals[0] ?? usage('No FILE given.');
const batchSize = Number(values.batch);
if (!Number.isInteger(batchSize) || batchSize < 1) usage(`--batch must be a positive integer (got ${values.batch})`);
const maxRetries = Number(values.retries);
const format = values.format ?? (/\.csv(\.gz)?$/i.test(file) ? 'csv' : 'ndjson');
if (format !== 'csv' && format !== 'ndjson') usage(`--format must be ndjson or csv (got ${format})`);
let size: number;
try {
  size = statSync(file).size;
} catch {
  usage(`Cannot read ${file}.`);
}

/** Lines of the file as NDJSON text with their 1-based line number in the file. */
async function* fileLines(): AsyncGenerator<{ line: number; text: string }> {
  if (format === 'ndjson') {
    let line = 0;
    for await (const text of createInterface({ input: createReadStream(file), crlfDelay: Infinity })) {
      line++;
      yield { line, text };
    }
    return;
  }
  let line = 1; // the header
  for await (const record of createReadStream(file).pipe(parseCsv({ columns: true, skip_empty_lines: false, relax_column_count: true }))) {
    line++;
    const event: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(record as Record<string, string>)) {
      if (v === '') continue;
      event[k] = NUMERIC_CSV_FIELDS.has(k) && /^-?\d+$/.test(v) ? Number(v) : v;
    }
    yield { line, text: JSON.stringify(event) };
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function send(batch: Batch, onRetry: (attempt: number, reason: string) => void): Promise<{ accepted: number; duplicates: number; rejected: { line: number; eventId: string | null; errors: string[] }[] }> {
  for (let attempt = 0; ; attempt++) {
    try {
      const res = await fetch(`${values.url}/v1/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-ndjson', ...(values.key ? { authorization: `Bearer ${values.key}` } : {}) },
        body: `${batch.lines.join('\n')}\n`,
      });
      if (res.status === 200) return (await res.json()) as never;
      const body = await res.text();
      if (res.status >= 500 || res.status === 503) throw new Error(`HTTP ${res.status}: ${body.slice(0, 200)}`);
      console.error(`\nThe service refused the batch starting at line ${batch.firstLine}: HTTP ${res.status} ${body.slice(0, 300)}`);
      process.exit(1);
    } catch (e) {
      if (attempt >= maxRetries) throw e;
      const delay = Math.min(30_000, 500 * 2 ** attempt);
      onRetry(attempt + 1, (e as Error).message);
      await sleep(delay);
    }
  }
}

async function main() {
  const totals: Totals = { lines: 0, accepted: 0, duplicates: 0, rejected: 0 };
  const sideFile = `${file}.rejected.ndjson`;
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
  const flush = async (batch: Batch, numbers: number[]) => {
    if (batch.lines.length === 0) return;
    const answer = await send(batch, (attempt, reason) => {
      console.error(`\nconnection problem (${reason}); retry ${attempt}/${maxRetries} — resent events are deduplicated by eventId`);
    });
    totals.accepted += answer.accepted;
    totals.duplicates += answer.duplicates;
    totals.rejected += answer.rejected.length;
    for (const r of answer.rejected) {
      side ??= createWriteStream(sideFile);
      const line = numbers[r.line - 1]!;
      side.write(`${JSON.stringify({ line, eventId: r.eventId, errors: r.errors, text: batch.lines[r.line - 1] })}\n`);
    }
    report();
  };
  let batch: Batch = { firstLine: 1, lines: [] };
  let numbers: number[] = [];
  for await (const { line, text } of fileLines()) {
    bytes += Buffer.byteLength(text) + 1;
    if (text.trim() === '') continue;
    totals.lines++;
    batch.lines.push(text);
    numbers.push(line);
    if (batch.lines.length >= batchSize) {
      await flush(batch, numbers);
      batch = { firstLine: line + 1, lines: [] };
      numbers = [];
    }
  }
  await flush(batch, numbers);
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
