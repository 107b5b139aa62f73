import type { Executor } from '../../server/storage/executor.js';

const ctx = { requestId: 'test-fixture' };
let seq = 0;

/** Stores purchases straight into the raw table: [customerId, ISO instant, amount?, currency?]. */
export async function insertPurchases(exec: Executor, rows: [string, string, string?, string?][]): Promise<void> {
  await exec.insert(
    'purchases',
    rows.map(([customer, at, amount = '10', currency = 'USD']) => ({
      event_id: `fx-${++seq}`,
      customer_id: customer,
      occurred_at: new Date(at).toISOString().replace('T', ' ').replace('Z', ''),
      amount,
      currency,
      order_id: null,
      channel: null,
    })),
    ctx,
  );
}

/** Profile versions: [customerId, ISO instant, country?, channel?, segment?]. */
export async function insertProfiles(exec: Executor, rows: [string, string, string | null, string | null, string | null][]): Promise<void> {
  await exec.insert(
    'customers',
    rows.map(([customer, at, country, channel, segment]) => ({
      event_id: `fxc-${++seq}`,
      customer_id: customer,
      occurred_at: new Date(at).toISOString().replace('T', ' ').replace('Z', ''),
      country,
      channel,
      segment,
      received_seq: seq,
    })),
    ctx,
  );
}
