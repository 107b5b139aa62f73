/**
 * The engine-side half of `npm run bench -- kpis`, one role per process (chDB opens one data
 * directory per process): `fill` creates and fills a store, `baseline` times the plain SQL a
 * user would write over the raw tables, `optimize` merges every table of a store into one part
 * per partition (a settled store). Prints one JSON line for the orchestrator (bench/kpis.ts).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../server/config.js';
import { createLogger } from '../server/logger.js';
import { migrate } from '../server/storage/migrate.js';
import { createExecutor } from '../server/service.js';
import { openStorage } from '../server/storage/client.js';
import { BASELINES, BENCH_DATABASE } from './kpis-cases.js';
import { bulkOptions, fillBulkStore } from './bulk.js';

const ctx = { requestId: 'bench' };

async function open(dir: string) {
  // The service's own executor and guardrail defaults but the time limit: a plain SQL baseline over
  // the raw tables may take longer than the service lets one KPI run (the loyalty and follow-up
  // ones take 10-15 s at 10M purchases), and it is timed, not refused.
  const config = loadConfig({ DATA_DIR: dir, CLICKHOUSE_DATABASE: BENCH_DATABASE, LOG_LEVEL: 'error', QUERY_MAX_EXECUTION_TIME: '600' });
  const storage = await openStorage(config);
  const exec = createExecutor(storage, config, createLogger('error'));
  return { storage, exec };
}

/** Fills `dir` and writes the purchases a client will send again (retries) as NDJSON next to it. */
async function fill(dir: string, purchases: number, retriesFile: string): Promise<object> {
  const { storage, exec } = await open(dir);
  await migrate(exec);
  const steps: Record<string, number> = {};
  await fillBulkStore(exec, bulkOptions(purchases), (table, ms) => (steps[table] = Math.round(ms)));
  const retries = await exec.rows<object>(
    {
      query: `SELECT 'purchase' AS type, event_id AS eventId, customer_id AS customerId,
                replaceOne(toString(occurred_at), ' ', 'T') || 'Z' AS occurredAt, toString(amount) AS amount, currency, order_id AS orderId, channel
              FROM {db:Identifier}.purchases WHERE event_id IN {ids:Array(String)}`,
      query_params: { ids: Array.from({ length: 500 }, (_, i) => `b-${i}`) },
    },
    ctx,
  );
  writeFileSync(retriesFile, retries.map((r) => JSON.stringify(r)).join('\n') + '\n');
  await storage.close();
  return { steps };
}

/** Times the baselines (only those named, when `only` lists some) `runs` times after one warm-up, and returns their rows. */
async function baseline(dir: string, runs: number, only: string[]): Promise<object> {
  const { storage, exec } = await open(dir);
  const out: Record<string, { ms: number[]; rows: unknown[][] }> = {};
  for (const [name, queries] of Object.entries(BASELINES)) {
    if (only.length > 0 && !only.includes(name)) continue;
    const ms: number[] = [];
    let rows: unknown[][] = [];
    for (let run = -1; run < runs; run++) {
      const started = performance.now();
      rows = [];
      for (const q of queries) rows.push(await exec.rows(q, ctx));
      // Run -1 warms the caches, as the service's warm-up request does.
      if (run >= 0) ms.push(performance.now() - started);
    }
    out[name] = { ms, rows };
  }
  await storage.close();
  return out;
}

/** OPTIMIZE … FINAL on every MergeTree table of the bench database: what the background merges reach in the end. */
async function optimize(dir: string): Promise<object> {
  const { storage, exec } = await open(dir);
  const started = performance.now();
  const tables = await exec.rows<{ name: string }>(
    { query: `SELECT name FROM system.tables WHERE database = {db:String} AND engine LIKE '%MergeTree' ORDER BY name`, query_params: {} },
    ctx,
  );
  for (const { name } of tables) await exec.command({ query: 'OPTIMIZE TABLE {db:Identifier}.{table:Identifier} FINAL', query_params: { table: name } }, ctx);
  await storage.close();
  return { tables: tables.length, ms: Math.round(performance.now() - started) };
}

const [role, dir, arg, names] = process.argv.slice(2);
const result =
  role === 'fill'
    ? await fill(dir!, Number(arg), join(dir!, '..', 'retries.ndjson'))
    : role === 'baseline'
      ? await baseline(dir!, Number(arg), names?.split(',') ?? [])
      : role === 'optimize'
        ? await optimize(dir!)
        : undefined;
if (!result) throw new Error(`unknown role ${role}`);
process.stdout.write(`${JSON.stringify(result)}\n`);
