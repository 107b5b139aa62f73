/**
 * `npm run bench -- states [--purchases N]`: the cost of comparing every pre-aggregated state
 * with the raw tables (what the service does at start and after a failed write), and of
 * rebuilding one hash partition, on a bulk store (bench/bulk.ts) of N purchases.
 */
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadConfig } from '../server/config.js';
import { createLogger } from '../server/logger.js';
import { migrate } from '../server/storage/migrate.js';
import { createExecutor } from '../server/service.js';
import { openStorage } from '../server/storage/client.js';
import { checkStates, rebuildPartition } from '../server/storage/state-check.js';
import { ensureBulkStore } from './bulk.js';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const ctx = { requestId: 'bench-states' };

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { purchases: { type: 'string', default: '3000000' } } });
  const purchases = Number(values.purchases);
  if (!Number.isInteger(purchases) || purchases < 1) throw new Error(`--purchases must be a positive integer (got ${values.purchases})`);
  const config = loadConfig({ DATA_DIR: join(ROOT, '.bench', 'states'), CLICKHOUSE_DATABASE: `bench_states_${purchases}`, LOG_LEVEL: 'silent' });
  const storage = await openStorage(config);
  const exec = createExecutor(storage, config, createLogger('silent'));
  try {
    await migrate(exec);
    await ensureBulkStore(exec, purchases);
    const [counts] = (await exec.rows<{ p: number; r: number; c: number }>(
      { query: 'SELECT (SELECT count() FROM {db:Identifier}.purchases) AS p, (SELECT count() FROM {db:Identifier}.referrals) AS r, (SELECT uniqExact(customer_id) FROM {db:Identifier}.purchases) AS c', query_params: {} },
      ctx,
    )) as [{ p: number; r: number; c: number }];
    console.log(`states: ${counts.p.toLocaleString('en')} purchases of ${counts.c.toLocaleString('en')} customers, ${counts.r.toLocaleString('en')} referral events`);
    // A reference under the same load: one full pass of the raw purchases grouped by customer.
    const refStarted = performance.now();
    await exec.rows({ query: 'SELECT count() AS n, sum(o) FROM (SELECT customer_id, count() AS o FROM {db:Identifier}.purchases GROUP BY customer_id)', query_params: {} }, ctx);
    console.log(`reference, purchases grouped by customer: ${((performance.now() - refStarted) / 1000).toFixed(2)} s`);
    for (let run = 1; run <= 3; run++) {
      const started = performance.now();
      const checks = await checkStates(exec, ctx);
      console.log(`check of every partition, run ${run}: ${((performance.now() - started) / 1000).toFixed(2)} s, ${checks.every((c) => c.ok) ? 'exact' : 'DIFFERS'}`);
    }
    for (const table of ['customer_activity', 'referral_state'] as const) {
      const started = performance.now();
      await rebuildPartition(exec, table, 3, ctx);
      console.log(`rebuild of one partition of ${table}: ${((performance.now() - started) / 1000).toFixed(2)} s`);
    }
    const started = performance.now();
    const after = await checkStates(exec, ctx);
    console.log(`check after the rebuilds: ${((performance.now() - started) / 1000).toFixed(2)} s, ${after.every((c) => c.ok) ? 'exact' : 'DIFFERS'}`);
  } finally {
    await storage.close();
  }
}
