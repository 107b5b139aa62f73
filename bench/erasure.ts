/**
 * `npm run bench -- erasure [--purchases N] [--customers K]`: the time of one erasure of K
 * customers (default 1 000) from a bulk store (bench/bulk.ts) of N purchases (default 1 000 000;
 * the target in issue 16 is 1 000 customers from a 10M store in under 60 s), run through the
 * writer as the service runs it, then a check that every state equals the raw tables. An erasure
 * changes the store, so each run fills a fresh database.
 */
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadConfig } from '../server/config.js';
import { Erasures } from '../server/ingest/erasures.js';
import { EventWriter } from '../server/ingest/writer.js';
import { createLogger } from '../server/logger.js';
import { migrate } from '../server/storage/migrate.js';
import { createExecutor } from '../server/service.js';
import { openStorage } from '../server/storage/client.js';
import { checkStates } from '../server/storage/state-check.js';
import { bulkOptions, fillBulkStore } from './bulk.js';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const ctx = { requestId: 'bench-erasure' };
const seconds = (since: number) => ((performance.now() - since) / 1000).toFixed(2);

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { purchases: { type: 'string', default: '1000000' }, customers: { type: 'string', default: '1000' } } });
  const purchases = Number(values.purchases);
  const customers = Number(values.customers);
  if (!Number.isInteger(purchases) || purchases < 1) throw new Error(`--purchases must be a positive integer (got ${values.purchases})`);
  if (!Number.isInteger(customers) || customers < 1 || customers > 1000) throw new Error(`--customers must be an integer in 1..1000 (got ${values.customers})`);
  const config = loadConfig({ DATA_DIR: join(ROOT, '.bench', 'erasure'), CLICKHOUSE_DATABASE: 'bench_erasure', LOG_LEVEL: 'silent' });
  const storage = await openStorage(config);
  const exec = createExecutor(storage, config, createLogger('silent'));
  try {
    await exec.command('DROP DATABASE IF EXISTS {db:Identifier}', ctx);
    await exec.command('CREATE DATABASE {db:Identifier}', ctx);
    await migrate(exec);
    let started = performance.now();
    await fillBulkStore(exec, bulkOptions(purchases));
    console.log(`erasure: ${purchases.toLocaleString('en')} purchases generated in ${seconds(started)} s`);
    // Customers spread over the store by hash, some of them referrers or referred customers.
    const ids = (
      await exec.rows<{ id: string }>(
        { query: 'SELECT DISTINCT customer_id AS id FROM {db:Identifier}.purchases ORDER BY cityHash64(customer_id) LIMIT {k:UInt32}', query_params: { k: customers } },
        ctx,
      )
    ).map((r) => r.id);
    const writer = new EventWriter(exec, { erasures: new Erasures(exec, { key: 'bench-erasure-key-0123456789' }) });
    started = performance.now();
    const erasure = await writer.erase(ids, ctx);
    console.log(`erasure of ${erasure.customers} customers (${erasure.events.toLocaleString('en')} events): ${seconds(started)} s`);
    started = performance.now();
    const checks = await checkStates(exec, ctx);
    console.log(`states after the erasure: ${checks.every((c) => c.ok) ? 'exact' : 'DIFFER'} (check ${seconds(started)} s)`);
  } finally {
    await storage.close();
  }
}
