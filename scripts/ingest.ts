// npm run ingest -- FILE [--url URL] [--key KEY] [--batch N] [--retries N] [--format ndjson|csv] [--type TYPE]
// Streams an NDJSON or CSV (header row) file of any size, gzipped or not, to a running
// service's POST /v1/events in batches (scripts/lib/event-stream.ts). Connection failures are
// retried with backoff; a resent batch is safe because eventIds dedupe. Rejected lines go to
// FILE.rejected.ndjson. Exit codes (README, "Sending events"): 0 all stored, 1 some lines
// rejected, 2 bad usage or input, 3 stopped early (service unreachable or refusing).
import { statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { EVENT_TYPES } from '../server/ingest/validate.js';
import { csvRecords, EventFile, InputError, ndjsonLines, type FileLine } from './lib/event-files.js';
import { EXIT_REJECTED, EXIT_STOPPED, EXIT_USAGE, SENDER_ARGS, senderOptions, streamEvents, summaryLine } from './lib/event-stream.js';

const NUMERIC_CSV_FIELDS = new Set(['score', 'points']);

const USAGE = 'Usage: npm run ingest -- FILE [--url URL] [--key KEY] [--batch N] [--retries N] [--format ndjson|csv] [--type TYPE]';

function usage(message: string): never {
  console.error(`${message}\n${USAGE}`);
  process.exit(EXIT_USAGE);
}

let parsed;
try {
  parsed = parseArgs({
    allowPositionals: true,
    options: { ...SENDER_ARGS, format: { type: 'string' }, type: { type: 'string' } },
  });
} catch (e) {
  usage((e as Error).message);
}
const { values, positionals } = parsed;

const file = positionals[0] ?? usage('No FILE given.');
const checked = senderOptions(values);
const sender = typeof checked === 'string' ? usage(checked) : checked;
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
const input = new EventFile(file);

/** CSV records (header row first) as NDJSON lines, numbered by the file line where the record ends. */
async function* csvLines(): AsyncGenerator<FileLine> {
  let header: string[] = [];
  for await (const { line, cells } of csvRecords(input, (h) => (header = csvHeader(h)))) {
    const event: Record<string, unknown> = csvType === undefined ? {} : { type: csvType };
    cells.forEach((v, i) => {
      const k = header[i];
      if (k === undefined || v === '') return;
      event[k] = NUMERIC_CSV_FIELDS.has(k) && /^-?\d+$/.test(v) ? Number(v) : v;
    });
    yield { line, bytes: Buffer.from(JSON.stringify(event)) };
  }
}

/** Checked once: without a `type` column every record would be rejected for the same reason. */
function csvHeader(cells: string[]): string[] {
  // "type, eventId, …" as spreadsheets and hand-written files have it: names are the contract's, never padded.
  const header = cells.map((c) => c.trim());
  if (csvType === undefined && !header.includes('type')) {
    throw new InputError(
      `${file}: the CSV header has no "type" column (columns: ${header.join(', ') || 'none'}). ` +
        `Add a type column (${EVENT_TYPES.join(', ')}) or pass --type when every row is of one type.`,
    );
  }
  return header;
}

async function main() {
  const sideFile = `${file}.rejected.ndjson`;
  const { totals, seconds } = await streamEvents(format === 'csv' ? csvLines() : ndjsonLines(input), {
    ...sender,
    label: 'ingest',
    sideFile,
    size,
    position: () => input.bytesRead,
  });
  console.log(summaryLine(totals, seconds, sideFile));
  process.exit(totals.rejected > 0 ? EXIT_REJECTED : 0);
}

main().catch((e) => {
  console.error(`\ningest failed: ${(e as Error).message}`);
  process.exit(e instanceof InputError ? EXIT_USAGE : EXIT_STOPPED);
});
