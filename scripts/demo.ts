// npm run demo [-- --scale N] [-- --end YYYY-MM-DD]
// First start on an empty DATA_DIR: generates a realistic demo store (deterministic for a
// given end day; default today, UTC) and loads it through the same validation and
// exactly-once writer as the API; then serves. The store covers the two years up to the
// start of the end day's month, so the boards' default range (the last twelve complete
// months) is full.
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import { createLogger } from '../server/logger.js';
import { migrate } from '../server/storage/migrate.js';
import { preflight, StartupError } from '../server/preflight.js';
import { createExecutor, startService } from '../server/service.js';
import { openStorage, StorageConnectError } from '../server/storage/client.js';
import { validateEvent, type StoredEvent } from '../server/ingest/validate.js';
import { EventWriter } from '../server/ingest/writer.js';
import { generateStore, resolveStoreOptions, scaled, storeEndFor, type StoreOptions } from './generate/store.js';
import { readConfig } from './lib/cli.js';

const { values } = parseArgs({ options: { scale: { type: 'string', default: '1' }, end: { type: 'string' } } });
const scale = Number(values.scale);
if (!(scale > 0 && scale <= 500)) {
  console.error(`--scale must be a number in (0, 500] (got ${values.scale})`);
  process.exit(2);
}
function storeOptions(): StoreOptions {
  try {
    // The clock is read here, once; the generator only sees the end it is given.
    return { ...scaled(scale), end: storeEndFor(values.end ?? new Date().toISOString().slice(0, 10)) };
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    console.error(`--${e.message}`);
    process.exit(2);
  }
}
const options = storeOptions();
const day = (ms: number): string => new Date(ms).toISOString().slice(0, 10);
const yearBefore = (iso: string): string => `${Number(iso.slice(0, 4)) - 1}${iso.slice(4)}`;

const config = readConfig();
const log = createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel);
const ctx = { requestId: 'demo-load' };

async function fillIfEmpty(): Promise<void> {
  const storage = await openStorage(config);
  try {
    const exec = createExecutor(storage, config, log);
    await migrate(exec);
    const [row] = await exec.rows<{ n: number; first: number; last: number }>({
      query: 'SELECT count() AS n, toUnixTimestamp64Milli(min(occurred_at)) AS first, toUnixTimestamp64Milli(max(occurred_at)) AS last FROM {db:Identifier}.purchases',
      query_params: {},
    }, ctx);
    if (row!.n > 0) {
      console.log(`Demo store already loaded (${row!.n} purchases from ${day(Number(row!.first))} to ${day(Number(row!.last))} in ${config.server ? config.server.url : config.dataDir}; empty it to load a current one).`);
      return;
    }
    const resolved = resolveStoreOptions(options);
    const expected = resolved.purchases + resolved.surveys + resolved.customers + resolved.referrals * 2;
    console.log(`Generating the demo store: ${resolved.customers} customers, about ${resolved.purchases} purchases from ${day(resolved.startMs)} to ${day(resolved.endMs - 1)} (UTC; pin the end with --end YYYY-MM-DD)…`);
    const writer = new EventWriter(exec);
    const bar = new cliProgress.SingleBar({ format: 'loading |{bar}| {value} events | {rate}/s', hideCursor: true }, cliProgress.Presets.shades_classic);
    const started = Date.now();
    bar.start(expected, 0, { rate: 0 });
    let batch: StoredEvent[] = [];
    let total = 0;
    const flush = async () => {
      await writer.write(batch, ctx);
      total += batch.length;
      batch = [];
      bar.setTotal(Math.max(expected, total));
      bar.update(total, { rate: Math.round(total / Math.max(0.001, (Date.now() - started) / 1000)) });
    };
    for (const event of generateStore(options)) {
      const result = validateEvent(event);
      if (!result.ok) throw new Error(`demo generator produced an invalid event: ${result.errors.join('; ')}`);
      batch.push(result.event);
      if (batch.length >= 50_000) await flush();
    }
    await flush();
    bar.stop();
    console.log(`Loaded ${total} events in ${((Date.now() - started) / 1000).toFixed(1)} s.`);
  } finally {
    await storage.close();
  }
}

async function main() {
  // A busy port, a wrong HOST or an unusable DATA_DIR is reported before minutes of loading.
  const held = await preflight(config);
  let service;
  try {
    await fillIfEmpty();
    service = await startService(config, log);
  } finally {
    // The service holds DATA_DIR itself by now.
    held?.release();
  }
  const example = `{ repeatPurchaseRate(from: "${yearBefore(options.end)}", to: "${options.end}") { customers repeatCustomers orders rate } }`;
  console.log(`
Retention KPI service (demo store) at ${service.url}
  GraphQL IDE:  ${service.url}/graphql   (open in a browser)
  Try:          curl -s ${service.url}/graphql -H 'content-type: application/json' \\
                  -d '${JSON.stringify({ query: example })}'
Stop with Ctrl-C.`);
  const stop = () => void service.stop().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((e) => {
  if (e instanceof StartupError || e instanceof StorageConnectError) {
    console.error(`Cannot start the demo: ${e.message}`);
    process.exit(2);
  }
  console.error(`demo failed: ${(e as Error).message}`);
  process.exit(1);
});
