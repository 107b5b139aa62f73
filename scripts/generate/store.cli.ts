/**
 * Writes the generated store as NDJSON to stdout, ready for `POST /v1/events`:
 *   tsx scripts/generate/store.cli.ts --scale 1 --seed 1 > store.ndjson
 *   tsx scripts/generate/store.cli.ts --customers 1000000 --purchases 10000000 | ...
 */
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import { generateStore, scaled, type StoreOptions } from './store.js';

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
const opts: StoreOptions = {
  ...(values.scale !== undefined ? scaled(Number(values.scale)) : {}),
  ...Object.fromEntries(Object.entries({
    customers: int(values.customers), purchases: int(values.purchases), surveys: int(values.surveys),
    referrals: int(values.referrals), seed: int(values.seed), start: values.start, end: values.end,
  }).filter(([, v]) => v !== undefined)),
};

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
