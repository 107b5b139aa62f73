/**
 * `npm run bench -- erasure [--purchases N] [--customers K]`: the time of one erasure of K
 * customers (default 1 000) from a bulk store (bench/bulk.ts) of N purchases (default 1 000 000;
 * the target in issue 16 is 1 000 customers from a 10M store in under 60 s), run through the
 * writer as the service runs it, then a check that every state equals the raw tables. An erasure
 * changes the store, so each run fills a fresh database.
 */
import { parseArgs } from 'node:util';
import { Erasures } from '../server/ingest/erasures.js';
import { EventWriter } from '../server/ingest/writer.js';
import { checkStates } from '../server/storage/state-check.js';
import { withFreshBulkStore } from './bulk.js';

const ctx = { requestId: 'bench-erasure' };
const seconds = (since: number) => ((performance.now() - since) / 1000).toFixed(2);

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { purchases: { type: 'string', default: '1000000' }, customers: { type: 'string', default: '1000' } } });
  const purchases = Number(values.purchases);
  const customers = Number(values.customers);
  if (!Number.isInteger(purchases) || purchases < 1) throw new Error(`--purchases must be a positive integer (got ${values.purchases})`);
  if (!Number.isInteger(customers) || customers < 1 || customers > 1000) throw new Error(`--customers must be an integer in 1..1000 (got ${values.customers})`);
  await withFreshBulkStore('erasure', purchases, async (exec) => {
    // Customers spread over the store by hash, some of them referrers or referred customers.
    const ids = (
      await exec.rows<{ id: string }>(
        { query: 'SELECT DISTINCT customer_id AS id FROM {db:Identifier}.purchases ORDER BY cityHash64(customer_id) LIMIT {k:UInt32}', query_params: { k: customers } },
        ctx,
      )
    ).map((r) => r.id);
    const writer = new EventWriter(exec, { erasures: new Erasures(exec, { key: 'bench-erasure-key-0123456789' }) });
    let started = performance.now();
    const erasure = await writer.erase(ids, ctx);
    console.log(`erasure of ${erasure.customers} customers (${erasure.events.toLocaleString('en')} events): ${seconds(started)} s`);
    started = performance.now();
    const checks = await checkStates(exec, ctx);
    console.log(`states after the erasure: ${checks.every((c) => c.ok) ? 'exact' : 'DIFFER'} (check ${seconds(started)} s)`);
  });
}
