/**
 * Writes the generated store as NDJSON to stdout, ready for `POST /v1/events`:
 *   tsx scripts/generate/store.cli.ts --scale 1 --seed 1 > store.ndjson
 *   tsx scripts/generate/store.cli.ts --customers 1000000 --purchases 10000000 | ...
 * Like the demo, the store ends at the start of the month of `--end YYYY-MM-DD` (default:
 * today, UTC); `--start` is an ISO instant (default: two years before the end).
 */
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import { generateStore, resolveStoreOptions, scaled, storeEndFor, type StoreOptions } from './store.js';

const { values } = parseArgs({
  options: {
    scale: { type: 'string' },
    customers: { type: 'string' },
    purchases: { type: 'string' },
    surveys: { type: 'string' },
    referrals: { type: 'string' },
    start: { type: 'string' },
    end: { type: 'string' },
    seed: { type: 'string' },
  },
});

const int = (v: string | undefined): number | undefined => (v === undefined ? undefined : Number(v));
const readOptions = (): StoreOptions => ({
  ...(values.scale !== undefined ? scaled(Number(values.scale)) : {}),
  ...Object.fromEntries(Object.entries({
    customers: int(values.customers), purchases: int(values.purchases), surveys: int(values.surveys),
    referrals: int(values.referrals), seed: int(values.seed), start: values.start,
  }).filter(([, v]) => v !== undefined)),
  // The one place the clock is read: the generator itself only ever gets a fixed end.
  end: storeEndFor(values.end ?? new Date().toISOString().slice(0, 10)),
});
let opts: StoreOptions;
try {
  opts = readOptions();
  resolveStoreOptions(opts);
} catch (e) {
  if (!(e instanceof RangeError)) throw e;
  console.error(e.message);
  process.exit(2);
}

// A closed reader (`| head`) is a normal way to stop, not a failure.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
  process.exit(0);
});

// Lines are batched into ~1 MiB writes; a write per event would dominate the run time.
let chunk = '';
for (const event of generateStore(opts)) {
  chunk += `${JSON.stringify(event)}\n`;
  if (chunk.length >= 1 << 20) {
    if (!process.stdout.write(chunk)) await once(process.stdout, 'drain');
    chunk = '';
  }
}
process.stdout.write(chunk);
