import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Executor } from '../server/storage/executor.js';
import { migrate } from '../server/storage/migrate.js';
import { checkStates, rebuildPartition } from '../server/storage/state-check.js';
import { migrationSandbox } from './helpers/migrations.js';
import { customerActivity, referralState, refundOrders } from './helpers/states.js';

// The comparison of each pre-aggregate with its raw table, and the rebuild of a partition, on
// hand-written rows spread over unmerged parts. A view's part goes missing the way a crash or a
// full disk loses it: a constraint on the state fails the view's insert after the raw part is
// stored. Which partition a key falls in is asked of the engine (cityHash64), not of the code.

const DATABASE = 't_state_check';
const ctx = { requestId: 'state-check-test' };
let exec: Executor;
let close: (() => Promise<void>) | undefined;

const rows = <T>(query: string) => exec.rows<T>({ query, query_params: {} }, ctx);
const partitionOf = async (key: string) => (await rows<{ p: number }>(`SELECT toUInt8(cityHash64('${key}') % 8) AS p`))[0]!.p;

let n = 0;
let refunds = 0;
const purchase = (customer: string, at: string, amount: string, currency = 'USD') => ({
  event_id: `p${++n}`,
  customer_id: customer,
  occurred_at: at,
  amount,
  currency,
  order_id: null,
  channel: null,
});
const refund = (customer: string, order: string, at: string, amount: string, currency = 'USD') => ({
  event_id: `f${++refunds}`,
  customer_id: customer,
  order_id: order,
  occurred_at: at,
  amount,
  currency,
  reason: null,
});
const referral = (id: string, stage: string, at: string, who: string | null) => ({
  event_id: `r${++n}`,
  referral_id: id,
  stage,
  referrer_id: 'someone',
  referred_customer_id: who,
  occurred_at: at,
  channel: null,
});

const mismatched = async () =>
  Object.fromEntries((await checkStates(exec, ctx)).map((c) => [c.table, c.partitions.filter((p) => !p.ok).map((p) => p.partition)]));

const exact = async () => {
  const a = await customerActivity(rows, DATABASE);
  expect(a.state).toEqual(a.raw);
  const r = await referralState(rows, DATABASE);
  expect(r.state).toEqual(r.raw);
  const o = await refundOrders(rows, DATABASE);
  expect(o.state).toEqual(o.raw);
  expect(Object.keys(o.raw).length).toBeGreaterThan(0);
};

beforeAll(async () => {
  let dir: string;
  ({ exec, dir, close } = await migrationSandbox(DATABASE));
  await migrate(exec, { dir });
  await exec.command('SYSTEM STOP MERGES {db:Identifier}.customer_activity', ctx);
  await exec.command('SYSTEM STOP MERGES {db:Identifier}.referral_state', ctx);
  await exec.command('SYSTEM STOP MERGES {db:Identifier}.refund_orders', ctx);
  // A refund stored before its purchase (p1, ann's first), two after theirs (p2, bob's, in EUR:
  // the USD one matches nothing), and one of no purchase.
  await exec.insert('refunds', [refund('ann', 'p1', '2024-01-06 00:00:00', '10.5'), refund('zed', 'nothing', '2024-01-01 00:00:00', '1')], ctx);
  // Several inserts: a customer's state is split over parts, months repeat across them.
  await exec.insert('purchases', [purchase('ann', '2024-01-05 10:00:00', '10.5'), purchase('bob', '2024-02-01 00:00:00', '3.25', 'EUR')], ctx);
  await exec.insert('purchases', [purchase('ann', '2024-01-20 10:00:00', '1.5'), purchase('ann', '2023-12-31 23:59:59.999', '2')], ctx);
  await exec.insert('refunds', [refund('bob', 'p2', '2024-02-03 00:00:00', '1'), refund('bob', 'p2', '2024-02-04 00:00:00', '0.25', 'EUR')], ctx);
  await exec.insert('purchases', [purchase('cy', '2024-03-03 03:03:03', '7'), purchase('bob', '2024-02-09 00:00:00', '-1.25', 'EUR')], ctx);
  await exec.insert('referrals', [referral('r1', 'INVITED', '2024-01-01 00:00:00', null), referral('r2', 'INVITED', '2024-01-02 00:00:00', 'bob')], ctx);
  await exec.insert('referrals', [referral('r1', 'SIGNED_UP', '2024-01-03 00:00:00', 'ann'), referral('r1', 'CLICKED', '2023-12-30 00:00:00', null)], ctx);
});
afterAll(async () => {
  await close?.();
});

describe('pre-aggregate check and repair', () => {
  it('finds every state exact when the views saw every insert, over unmerged parts', async () => {
    const [parts] = await rows<{ n: number }>(`SELECT count() AS n FROM system.parts WHERE database = '${DATABASE}' AND table = 'customer_activity' AND active`);
    expect(parts!.n).toBeGreaterThan(1);
    expect(await mismatched()).toEqual({ customer_activity: [], referral_state: [], refund_orders: [] });
    await exact();
  });

  it('finds the partitions whose view part is missing, and rebuilds exactly those', async () => {
    await exec.command("ALTER TABLE {db:Identifier}.customer_activity ADD CONSTRAINT poison CHECK customer_id != 'poison'", ctx);
    // One insert: the raw part stores both rows, the view's part fails whole (dan's too).
    await expect(exec.insert('purchases', [purchase('dan', '2024-05-05 05:00:00', '4'), purchase('poison', '2024-05-06 00:00:00', '1')], ctx)).rejects.toThrow();
    const [{ raw }] = (await rows<{ raw: number }>(`SELECT count() AS raw FROM ${DATABASE}.purchases WHERE customer_id IN ('dan', 'poison')`)) as [{ raw: number }];
    expect(raw).toBe(2);
    const broken = [...new Set([await partitionOf('dan'), await partitionOf('poison')])].sort();
    expect(await mismatched()).toEqual({ customer_activity: broken, referral_state: [], refund_orders: [] });
    // While the state still refuses the rows (the disk still full), the repair fails and changes nothing.
    await expect(checkStates(exec, ctx, 'mismatched')).rejects.toThrow();
    expect(await mismatched()).toEqual({ customer_activity: broken, referral_state: [], refund_orders: [] });
    await exec.command('ALTER TABLE {db:Identifier}.customer_activity DROP CONSTRAINT poison', ctx);
    const repaired = await checkStates(exec, ctx, 'mismatched');
    expect(repaired.map((c) => [c.table, c.repaired, c.ok])).toEqual([
      ['customer_activity', broken, true],
      ['referral_state', [], true],
      ['refund_orders', [], true],
    ]);
    await exact();
  });

  it('finds a doubled view part and a state row without raw rows, and removes them', async () => {
    // A view part written twice for ann, and a key whose partition holds no raw row at all.
    await exec.command(
      `INSERT INTO {db:Identifier}.customer_activity SELECT customer_id, first_at, last_at, months, sales, instants FROM {db:Identifier}.customer_activity FINAL WHERE customer_id = 'ann'`,
      ctx,
    );
    const used = new Set(await Promise.all(['ann', 'bob', 'cy', 'dan', 'poison'].map(partitionOf)));
    let ghost = '';
    for (let i = 0; ghost === ''; i++) if (!used.has(await partitionOf(`ghost${i}`))) ghost = `ghost${i}`;
    await exec.insert('customer_activity', [{ customer_id: ghost, first_at: '2024-01-01 00:00:00', last_at: '2024-01-01 00:00:00', months: [24288], sales: [{ month: 24288, currency: 'USD', amount: '1', orders: 1 }], instants: ['2024-01-01 00:00:00'] }], ctx);
    await exec.insert('referral_state', [{ referral_id: 'r2', started_at: '2020-01-01 00:00:00', last_at: '2024-01-02 00:00:00', clicked: 1, signed_up: 0, referred: { none: 0, at: '2024-01-02 00:00:00', customer_id: 'bob' } }], ctx);
    expect(await mismatched()).toEqual({
      customer_activity: [await partitionOf('ann'), await partitionOf(ghost)].sort(),
      referral_state: [await partitionOf('r2')],
      refund_orders: [],
    });
    await checkStates(exec, ctx, 'mismatched');
    expect(await mismatched()).toEqual({ customer_activity: [], referral_state: [], refund_orders: [] });
    await exact();
  });

  it('rebuilds every partition on request and leaves the states exact, and refuses a partition out of range', async () => {
    const all = await checkStates(exec, ctx, 'all');
    expect(all.map((c) => [c.repaired.length, c.ok])).toEqual([
      [8, true],
      [8, true],
      [8, true],
    ]);
    await exact();
    await expect(rebuildPartition(exec, 'customer_activity', 8, ctx)).rejects.toThrow(RangeError);
    const [left] = await rows<{ n: number }>(`SELECT count() AS n FROM system.tables WHERE database = '${DATABASE}' AND name LIKE '%_rebuild'`);
    expect(left!.n).toBe(0);
  });
});
