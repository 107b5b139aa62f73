// npm run import -- <shopify|stripe|csv> FILE… [--dry-run] [--url URL] [--key KEY] [--batch N] [--retries N]
//   [--tz ZONE] [--date-order dmy|mdy] [--decimal ,|.] [--map field=Column,…] [--map-file FILE] [--type TYPE]
//   [--currency CODE] [--statuses a,b]
// Turns a shop system's own export into purchase, refund and customer events (scripts/lib/import/,
// rules in docs/importing.md) and streams them like `npm run ingest` (scripts/lib/event-stream.ts):
// every eventId is made from the export row, so importing the same file again adds nothing.
// --dry-run sends nothing and prints what would be sent. Exit codes as `npm run ingest`.
import { statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { validateEvent } from '../server/ingest/validate.js';
import { csvRecords, EventFile, InputError } from './lib/event-files.js';
import { EXIT_REJECTED, EXIT_STOPPED, EXIT_USAGE, SENDER_ARGS, senderOptions, streamEvents, summaryLine, type Outgoing, type SenderOptions } from './lib/event-stream.js';
import { checkMapping, csvMapper, IMPORTED_TYPES, parseMapOption, readMapFile, type CsvOptions } from './lib/import/csv-mapping.js';
import { shopifyMapper } from './lib/import/shopify.js';
import type { ImportedEvent, ImportOptions, RowMapper } from './lib/import/source.js';
import { stripeMapper } from './lib/import/stripe.js';
import { HMAC_KEY_VARIABLE, holdsEmail, maskEmails, parseZoneOption, type DateOrder, type DecimalMark } from './lib/import/values.js';

const SOURCES = ['shopify', 'stripe', 'csv'] as const;
type Source = (typeof SOURCES)[number];

const USAGE =
  'Usage: npm run import -- <shopify|stripe|csv> FILE… [--dry-run] [--url URL] [--key KEY] [--batch N] [--retries N] [--tz ZONE] [--date-order dmy|mdy] [--decimal ,|.]\n' +
  '       csv only: --map field=Column,… | --map-file FILE.json|.yaml, --type purchase|refund|customer, --currency CODE, --statuses a,b   (docs/importing.md)';

/** Rejected rows listed in a dry run; the rest are counted. */
const DRY_RUN_LISTED = 100;
/** Line numbers shown per skip reason. */
const SKIP_EXAMPLES = 5;
const MIN_KEY_LENGTH = 16;

function usage(message: string): never {
  console.error(`${message}\n${USAGE}`);
  process.exit(EXIT_USAGE);
}

/** The first field of an event that holds an e-mail address (a Source or tag column holding one): such an event is not sent. */
function fieldWithEmail(event: Record<string, unknown>): string | undefined {
  return Object.entries(event).find(([, v]) => typeof v === 'string' && holdsEmail(v))?.[0];
}

let parsed;
try {
  parsed = parseArgs({
    allowPositionals: true,
    options: {
      ...SENDER_ARGS,
      'dry-run': { type: 'boolean', default: false },
      tz: { type: 'string' },
      'date-order': { type: 'string' },
      decimal: { type: 'string' },
      map: { type: 'string', multiple: true },
      'map-file': { type: 'string' },
      type: { type: 'string' },
      currency: { type: 'string' },
      statuses: { type: 'string' },
    },
  });
} catch (e) {
  usage((e as Error).message);
}
const { values, positionals } = parsed;
const [sourceName, ...files] = positionals;
if (sourceName === undefined) usage('No source given.');
if (!(SOURCES as readonly string[]).includes(sourceName)) usage(`Unknown source ${JSON.stringify(sourceName)}: use ${SOURCES.join(', ')}.`);
const source = sourceName as Source;
if (files.length === 0) usage('No FILE given.');
const checked = senderOptions(values);
const sender: SenderOptions = typeof checked === 'string' ? usage(checked) : checked;
const zone = values.tz === undefined ? undefined : (parseZoneOption(values.tz) ?? usage(`--tz must be Z, UTC, an offset like +02:00 or a zone like Europe/Berlin (got ${values.tz})`));
const dateOrder = values['date-order'];
if (dateOrder !== undefined && dateOrder !== 'dmy' && dateOrder !== 'mdy') usage(`--date-order must be dmy or mdy (got ${dateOrder})`);
const decimal = values.decimal;
if (decimal !== undefined && decimal !== ',' && decimal !== '.') usage(`--decimal must be , or . (got ${decimal})`);
const hmacKey = process.env[HMAC_KEY_VARIABLE];
if (hmacKey !== undefined && hmacKey !== '' && hmacKey.length < MIN_KEY_LENGTH) usage(`${HMAC_KEY_VARIABLE} must be at least ${MIN_KEY_LENGTH} characters long.`);
const importOptions: ImportOptions = { hmacKey, zone, dateOrder: dateOrder as DateOrder, decimal: decimal as DecimalMark };
const csvOnly = (['map', 'map-file', 'type', 'currency', 'statuses'] as const).filter((o) => values[o] !== undefined);
if (source !== 'csv' && csvOnly.length > 0) usage(`--${csvOnly[0]} applies to the csv source (${source} exports have fixed columns).`);
for (const f of files) {
  try {
    statSync(f);
  } catch {
    usage(`Cannot read ${f}.`);
  }
}

async function csvOptions(): Promise<CsvOptions> {
  const map = {};
  if (values['map-file'] !== undefined) await readMapFile(values['map-file'], map);
  for (const m of values.map ?? []) parseMapOption(m, map);
  const type = values.type;
  if (type !== undefined && !(IMPORTED_TYPES as readonly string[]).includes(type)) throw new InputError(`--type must be one of ${IMPORTED_TYPES.join(', ')} (got ${type})`);
  const o: CsvOptions = {
    map,
    type: type as CsvOptions['type'],
    currency: values.currency?.toUpperCase(),
    statuses: values.statuses === undefined ? undefined : new Set(values.statuses.split(',').map((s) => s.trim().toLowerCase())),
  };
  checkMapping(o);
  return o;
}

/** What one file's rows came to, beyond the sender's totals. */
class Tally {
  rows = 0;
  lineItems = 0;
  readonly events = new Map<string, number>();
  readonly currencies = new Map<string, number>();
  readonly skipped = new Map<string, { count: number; lines: number[] }>();
  readonly rejected: { line: number; eventId: string | null; errors: string[] }[] = [];
  rejectedCount = 0;
  first: number | undefined;
  last: number | undefined;

  skip(reason: string, line: number) {
    const s = this.skipped.get(reason) ?? { count: 0, lines: [] };
    s.count++;
    if (s.lines.length < SKIP_EXAMPLES) s.lines.push(line);
    this.skipped.set(reason, s);
  }

  event(e: ImportedEvent, withRange: boolean) {
    this.events.set(e.type, (this.events.get(e.type) ?? 0) + 1);
    if (e.currency) this.currencies.set(e.currency, (this.currencies.get(e.currency) ?? 0) + 1);
    if (withRange) {
      const t = Date.parse(e.occurredAt);
      if (this.first === undefined || t < this.first) this.first = t;
      if (this.last === undefined || t > this.last) this.last = t;
    }
  }

  reject(line: number, eventId: string | null, errors: string[]) {
    this.rejectedCount++;
    if (this.rejected.length < DRY_RUN_LISTED) this.rejected.push({ line, eventId, errors });
  }

  skippedLines(): string[] {
    const total = [...this.skipped.values()].reduce((n, s) => n + s.count, 0);
    return [
      `skipped: ${total} row${total === 1 ? '' : 's'}`,
      ...[...this.skipped].map(([reason, s]) => `  ${reason}: ${s.count} (line${s.count === 1 ? '' : 's'} ${s.lines.join(', ')}${s.count > s.lines.length ? ', …' : ''})`),
    ];
  }

  countsLine(what: string, m: Map<string, number>): string {
    const total = [...m.values()].reduce((a, b) => a + b, 0);
    return `${what}: ${total}${m.size > 0 ? ` (${[...m].map(([k, n]) => `${k} ${n}`).join(', ')})` : ''}`;
  }
}

/** The file's rows as lines to send (or rejected before sending), tallied on the way. */
async function* outgoing(file: string, input: EventFile, csv: CsvOptions | undefined, tally: Tally, dryRun: boolean): AsyncGenerator<Outgoing> {
  let mapper: RowMapper | undefined;
  const onHeader = (header: string[]) => {
    mapper = source === 'shopify' ? shopifyMapper(file, header, importOptions) : source === 'stripe' ? stripeMapper(file, header, importOptions) : csvMapper(file, header, importOptions, csv!);
  };
  for await (const { line, cells } of csvRecords(input, onHeader)) {
    tally.rows++;
    const outcome = mapper!.map(cells);
    if ('lineItem' in outcome) tally.lineItems++;
    else if ('skipped' in outcome) tally.skip(outcome.skipped, line);
    else if ('rejected' in outcome) {
      // An address quoted by mistake (a column mapped to the wrong field) is masked before it is printed or written.
      const errors = outcome.rejected.map(maskEmails);
      tally.reject(line, outcome.eventId, errors);
      yield { rejection: { line, eventId: outcome.eventId, errors } };
    } else {
      for (const event of outcome.events) {
        const leaking = fieldWithEmail(event as Record<string, unknown>);
        if (leaking !== undefined) {
          const rejection = { line, eventId: maskEmails(String((event as { eventId?: unknown }).eventId ?? '')) || null, errors: [`${leaking}: holds an e-mail address; not sent (the value is not shown: it may be personal data)`] };
          tally.reject(rejection.line, rejection.eventId, rejection.errors);
          if (!dryRun) yield { rejection };
          continue;
        }
        if (dryRun) {
          // the service's own checks, so a dry run lists what the service would reject
          const r = validateEvent(event);
          if (!r.ok) {
            tally.reject(line, r.eventId, r.errors.map(maskEmails));
            continue;
          }
        }
        tally.event(event, dryRun);
        yield { line, bytes: Buffer.from(JSON.stringify(event)) };
      }
    }
  }
}

async function importFile(file: string, csv: CsvOptions | undefined): Promise<number> {
  const tally = new Tally();
  const input = new EventFile(file);
  const dryRun = values['dry-run'];
  if (dryRun) {
    for await (const _ of outgoing(file, input, csv, tally, true)) {
      // counted by the tally
    }
    const iso = (t: number | undefined) => (t === undefined ? '' : new Date(t).toISOString());
    console.log(
      [
        `dry run of ${source} export ${file}: nothing sent`,
        `rows: ${tally.rows}${source === 'shopify' ? ` (${tally.rows - tally.lineItems} orders, ${tally.lineItems} further line-item rows)` : ''}`,
        tally.countsLine('events', tally.events),
        `dates: ${tally.first === undefined ? 'none' : `${iso(tally.first)} to ${iso(tally.last)}`}`,
        tally.countsLine('currencies (purchase and refund events)', tally.currencies),
        ...tally.skippedLines(),
        `rejected: ${tally.rejectedCount}`,
        ...tally.rejected.map((r) => `  line ${r.line}${r.eventId ? ` (${r.eventId})` : ''}: ${r.errors.join('; ')}`),
        ...(tally.rejectedCount > tally.rejected.length ? [`  … and ${tally.rejectedCount - tally.rejected.length} more`] : []),
      ].join('\n'),
    );
    return tally.rejectedCount > 0 ? EXIT_REJECTED : 0;
  }
  const sideFile = `${file}.rejected.ndjson`;
  const { totals, seconds } = await streamEvents(outgoing(file, input, csv, tally, false), {
    ...sender,
    label: 'import',
    sideFile,
    size: statSync(file).size,
    position: () => input.bytesRead,
  });
  console.log(summaryLine(totals, seconds, sideFile));
  console.log(
    [`${file}: rows ${tally.rows}${source === 'shopify' ? ` (${tally.lineItems} further line-item rows)` : ''}`, tally.countsLine('events made', tally.events), ...tally.skippedLines()].join(
      '\n',
    ),
  );
  return totals.rejected > 0 ? EXIT_REJECTED : 0;
}

async function main() {
  const csv = source === 'csv' ? await csvOptions() : undefined;
  let code = 0;
  for (const file of files) code = Math.max(code, await importFile(file, csv));
  process.exit(code);
}

main().catch((e) => {
  console.error(`\nimport failed: ${(e as Error).message}`);
  process.exit(e instanceof InputError ? EXIT_USAGE : EXIT_STOPPED);
});
