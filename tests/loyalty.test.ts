import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clvSql } from '../loaders/clv.sql.js';
import { wilson as wilsonOf } from '../loaders/args.js';
import { Grain } from '../loaders/grain.js';
import { loyaltyGroupsSql } from '../loaders/loyalty.sql.js';
import { repeatPurchaseSql } from '../loaders/repeat-purchase.sql.js';
import { retentionCohortsSql } from '../loaders/retention.sql.js';
import type { Source } from '../loaders/sql.js';
import { startTestService, type TestService } from './helpers/service.js';

// Spec section 14 on a store small enough to work out by hand. Every event is at 12:00 UTC.
// - a: JOINED 01-10 (Silver), TIER_CHANGED Gold 02-15; earns 100 (01-20) and 200 (03-10), redeems
//   50 (03-20). Orders 02-01 (100 USD), 03-05 (40), 04-10 (60, refunded 10 on 04-12: partial).
// - b: JOINED 01-05, LEFT 02-01, JOINED 03-15 with tier Bronze (a rejoin); earns 5 at 05-01 12:00,
//   the end of the window. Orders 01-20 (50), 03-20 (30).
// - c: JOINED 02-01 (Silver), then LEFT and JOINED both at 02-20: LEFT wins, c is not a member;
//   TIER_CHANGED Gold 02-25 changes nothing. Orders 01-15 (20), 03-12 (25, cancelled on 03-14).
// - d: TIER_CHANGED Platinum 01-01, before any JOINED; JOINED 02-10 without a tier, so a member
//   without a tier until TIER_CHANGED Silver 04-01. Orders 02-12 (80 EUR) and 03-15 (90 EUR).
// - e: no loyalty event; order 02-20 (10 USD).
// - f: JOINED 03-20 (Gold); earns 30 (04-20), redeems 10 (05-10). Order 03-25 (15 USD) only.
// - g: JOINED 01-01; order 01-10 (70) cancelled on 01-11, order 03-03 (5).
// - h: JOINED 01-01, LEFT 04-15; no order.
const at = (d: string) => `2024-${d}T12:00:00Z`;
const L = (eventId: string, customerId: string, d: string, action: string, extra: object = {}) => ({ type: 'loyalty', eventId, customerId, occurredAt: at(d), action, ...extra });
const P = (eventId: string, customerId: string, d: string, amount: string, currency = 'USD') => ({ type: 'purchase', eventId, customerId, occurredAt: at(d), amount, currency });
const R = (eventId: string, customerId: string, orderId: string, d: string, amount: string) => ({ type: 'refund', eventId, customerId, orderId, occurredAt: at(d), amount, currency: 'USD' });
const loyalty = [
  L('a-j', 'a', '01-10', 'JOINED', { tier: 'Silver' }), L('a-t', 'a', '02-15', 'TIER_CHANGED', { tier: 'Gold' }),
  L('a-e1', 'a', '01-20', 'POINTS_EARNED', { points: 100 }), L('a-e2', 'a', '03-10', 'POINTS_EARNED', { points: 200 }), L('a-r', 'a', '03-20', 'POINTS_REDEEMED', { points: 50 }),
  L('b-j1', 'b', '01-05', 'JOINED'), L('b-l', 'b', '02-01', 'LEFT'), L('b-j2', 'b', '03-15', 'JOINED', { tier: 'Bronze' }), L('b-e', 'b', '05-01', 'POINTS_EARNED', { points: 5 }),
  L('c-j1', 'c', '02-01', 'JOINED', { tier: 'Silver' }), L('c-j2', 'c', '02-20', 'JOINED'), L('c-l', 'c', '02-20', 'LEFT'), L('c-t', 'c', '02-25', 'TIER_CHANGED', { tier: 'Gold' }),
  L('d-t1', 'd', '01-01', 'TIER_CHANGED', { tier: 'Platinum' }), L('d-j', 'd', '02-10', 'JOINED'), L('d-t2', 'd', '04-01', 'TIER_CHANGED', { tier: 'Silver' }),
  L('f-j', 'f', '03-20', 'JOINED', { tier: 'Gold' }), L('f-e', 'f', '04-20', 'POINTS_EARNED', { points: 30 }), L('f-r', 'f', '05-10', 'POINTS_REDEEMED', { points: 10 }),
  L('g-j', 'g', '01-01', 'JOINED'),
  L('h-j', 'h', '01-01', 'JOINED'), L('h-l', 'h', '04-15', 'LEFT'),
];
const orders = [
  P('a1', 'a', '02-01', '100'), P('a2', 'a', '03-05', '40'), P('a3', 'a', '04-10', '60'), R('ra3', 'a', 'a3', '04-12', '10'),
  P('b1', 'b', '01-20', '50'), P('b2', 'b', '03-20', '30'),
  P('c1', 'c', '01-15', '20'), P('c2', 'c', '03-12', '25'), R('rc2', 'c', 'c2', '03-14', '25'),
  P('d1', 'd', '02-12', '80', 'EUR'), P('d2', 'd', '03-15', '90', 'EUR'),
  P('e1', 'e', '02-20', '10'),
  P('f1', 'f', '03-25', '15'),
  P('g1', 'g', '01-10', '70'), R('rg1', 'g', 'g1', '01-11', '70'), P('g2', 'g', '03-03', '5'),
];

/** The 95% Wilson interval, written here from its textbook form (clamped to [0, 1]). */
function wilson(k: number, n: number): [number, number] {
  const z = 1.959963984540054;
  const p = k / n;
  const half = (z / (1 + (z * z) / n)) * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n));
  const mid = (p + (z * z) / (2 * n)) / (1 + (z * z) / n);
  return [Math.max(0, mid - half), Math.min(1, mid + half)];
}
function group(customers: number, active: number, orders: number, revenue: number) {
  const [low, high] = customers === 0 ? [null, null] : wilson(active, customers);
  const r = (x: number) => (customers === 0 ? null : x / customers);
  return { customers, activeCustomers: active, activeRate: r(active), activeRateLow: low, activeRateHigh: high, orders, ordersPerCustomer: r(orders), revenuePerCustomer: r(revenue) };
}
/** Newcombe's method 10, from the groups' Wilson intervals. */
function difference(m: ReturnType<typeof group>, o: ReturnType<typeof group>) {
  const [p1, l1, u1, p2, l2, u2] = [m.activeRate!, m.activeRateLow!, m.activeRateHigh!, o.activeRate!, o.activeRateLow!, o.activeRateHigh!];
  const d = p1 - p2;
  return { activeRateDifference: d, activeRateDifferenceLow: d - Math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), activeRateDifferenceHigh: d + Math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2) };
}

/**
 * The expected answer with each number compared to 12 decimals: the service computes the same
 * formulas in another order (its Wilson bound for 0 successes is 5e-17, not 0).
 */
export function close<T>(value: T): T {
  if (typeof value === 'number') return expect.closeTo(value, 12) as T;
  if (Array.isArray(value)) return value.map(close) as T;
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, close(v)])) as T;
  return value;
}

const GROUP = 'customers activeCustomers activeRate activeRateLow activeRateHigh orders ordersPerCustomer revenuePerCustomer';
export const PROGRAM = `query($from: DateTime!, $to: DateTime!, $asOf: DateTime, $filter: CustomerFilter) {
  loyaltyProgram(from: $from, to: $to, currency: "USD", asOf: $asOf, filter: $filter) {
    members joined left pointsEarned pointsRedeemed redemptionRate pointsOutstanding
    memberGroup { ${GROUP} } nonMemberGroup { ${GROUP} }
    activeRateDifference activeRateDifferenceLow activeRateDifferenceHigh
    tiers { tier ${GROUP} }
  }
}`;
const FROM = '2024-03-01T00:00:00Z';
const TO = '2024-05-01T12:00:00Z';

describe('loyalty program (spec section 14), worked by hand', () => {
  let svc: TestService;
  const post = async (events: object[]) => {
    const res = await fetch(`${svc.url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body: events.map((e) => JSON.stringify(e)).join('\n') });
    return res.json();
  };
  const program = async (asOf: string, filter?: object, from = FROM, to = TO) => {
    const r = await svc.gql(PROGRAM, { from, to, asOf, filter });
    expect(r.errors).toBeUndefined();
    return r.data.loyaltyProgram;
  };

  beforeAll(async () => {
    svc = await startTestService('t_loyalty');
    expect(await post([...loyalty, ...orders])).toMatchObject({ accepted: loyalty.length + orders.length, duplicates: 0, rejectedCount: 0 });
  });
  afterAll(async () => {
    await svc?.stop();
  });

  it('counts members, joins, leaves and points over [from, e), and splits the buyers before from by membership', async () => {
    // e = to = 05-01 12:00. Members at e: a (Gold), b (rejoined, Bronze), d (Silver), f (Gold), g; not c
    // (LEFT wins the tie), not h (left 04-15). In [from, e): JOINED b 03-15 and f 03-20, LEFT h 04-15;
    // earned 200 (a) + 30 (f), redeemed 50 (a); b's 5 points at e count as outstanding only:
    // 100 + 200 + 30 + 5 - 50 = 285 (f's redemption on 05-10 is after e).
    // Buyers before from (g's only one is cancelled, f bought later): a, d members at from (a Gold,
    // d no tier yet); b (left, not yet back), c and e are not. In the window: a 2 orders, 40 + 60 - 10
    // = 90 USD; d 1 order in EUR; b 1 order, 30 USD; c's order is cancelled.
    const member = group(2, 2, 3, 90);
    const other = group(3, 1, 1, 30);
    expect(await program('2024-06-01T00:00:00Z')).toEqual(close({
      members: 5, joined: 2, left: 1, pointsEarned: 230, pointsRedeemed: 50, redemptionRate: 50 / 230, pointsOutstanding: 285,
      memberGroup: member, nonMemberGroup: other, ...difference(member, other),
      tiers: [{ tier: 'Gold', ...group(1, 1, 2, 90) }],
    }));
  });

  it('counts nothing after asOf: membership, points, orders and cancellations as of then', async () => {
    // asOf 03-13: e = asOf. Members: a, d, g, h (b rejoins 03-15, f joins 03-20). Earned: a's 200.
    // c's order of 03-12 is not refunded yet: c is active. a: one order (40); d's is on 03-15.
    const member = group(2, 1, 1, 40);
    const other = group(3, 1, 1, 25);
    expect(await program('2024-03-13T00:00:00Z')).toEqual(close({
      members: 4, joined: 0, left: 0, pointsEarned: 200, pointsRedeemed: 0, redemptionRate: 0, pointsOutstanding: 300,
      memberGroup: member, nonMemberGroup: other, ...difference(member, other),
      tiers: [{ tier: 'Gold', ...group(1, 1, 1, 40) }],
    }));
  });

  it('answers an empty window when asOf is before from, with membership as of asOf', async () => {
    // asOf 02-25 00:00: members a, d, g, h; only a's first 100 points exist; nobody can be active.
    const member = group(2, 0, 0, 0);
    const other = group(3, 0, 0, 0);
    expect(await program('2024-02-25T00:00:00Z')).toEqual(close({
      members: 4, joined: 0, left: 0, pointsEarned: 0, pointsRedeemed: 0, redemptionRate: null, pointsOutstanding: 100,
      memberGroup: member, nonMemberGroup: other, ...difference(member, other),
      tiers: [{ tier: 'Gold', ...group(1, 0, 0, 0) }],
    }));
  });

  it('takes tiers at from, tier changes before a membership not counting, and orders the tiers', async () => {
    // From 04-05: buyers before it a (Gold), b (Bronze since 03-15), c, d (Silver since 04-01), e, f (Gold), g.
    // In [04-05, 05-01 12:00): a's 04-10 order (60 - 10).
    const r = await program('2024-06-01T00:00:00Z', undefined, '2024-04-05T00:00:00Z');
    expect(r.tiers.map((t: { tier: string; customers: number }) => [t.tier, t.customers])).toEqual([['Bronze', 1], ['Gold', 2], ['Silver', 1]]);
    expect(r.memberGroup).toEqual(close(group(5, 1, 1, 50)));
    expect(r.nonMemberGroup).toEqual(close(group(2, 0, 0, 0)));
  });

  it('applies the filter to every figure, and null differences for an empty group', async () => {
    // loyaltyTier Gold as of asOf: a and f. f bought nothing before from.
    expect(await program('2024-06-01T00:00:00Z', { loyaltyTier: ['Gold'] })).toEqual(close({
      members: 2, joined: 1, left: 0, pointsEarned: 230, pointsRedeemed: 50, redemptionRate: 50 / 230, pointsOutstanding: 280,
      memberGroup: group(1, 1, 2, 90), nonMemberGroup: group(0, 0, 0, 0),
      activeRateDifference: null, activeRateDifferenceLow: null, activeRateDifferenceHigh: null,
      tiers: [{ tier: 'Gold', ...group(1, 1, 2, 90) }],
    }));
  });

  it('filters every KPI by loyaltyMember and loyaltyTier as of asOf', async () => {
    const repeat = async (filter: object, asOf = '2024-06-01T00:00:00Z') => {
      const r = await svc.gql(`query($f: CustomerFilter, $asOf: DateTime) { repeatPurchaseRate(from: "${FROM}", to: "${TO}", asOf: $asOf, filter: $f) { customers repeatCustomers orders } }`, { f: filter, asOf });
      expect(r.errors).toBeUndefined();
      return r.data.repeatPurchaseRate;
    };
    // Buyers in the window as of 06-01: a (2), b, d, f, g (1 each); c's order is cancelled.
    expect(await repeat({ loyaltyMember: true })).toEqual({ customers: 5, repeatCustomers: 1, orders: 6 });
    expect(await repeat({ loyaltyMember: false })).toEqual({ customers: 0, repeatCustomers: 0, orders: 0 });
    expect(await repeat({ loyaltyTier: ['Gold'] })).toEqual({ customers: 2, repeatCustomers: 1, orders: 3 });
    expect(await repeat({ loyaltyTier: ['Bronze', 'Silver'] })).toEqual({ customers: 2, repeatCustomers: 0, orders: 2 });
    // As of 03-16: b is back (Bronze), f not yet a member; d has no tier yet, c's order is cancelled.
    expect(await repeat({ loyaltyMember: true }, '2024-03-16T00:00:00Z')).toEqual({ customers: 3, repeatCustomers: 0, orders: 3 });
    expect(await repeat({ loyaltyTier: ['Silver', 'Platinum'] }, '2024-03-16T00:00:00Z')).toEqual({ customers: 0, repeatCustomers: 0, orders: 0 });
    expect(await repeat({ loyaltyMember: true, loyaltyTier: ['Bronze'] }, '2024-03-16T00:00:00Z')).toEqual({ customers: 0, repeatCustomers: 0, orders: 0 });
  });

  it('answers every KPI that takes a filter with the loyalty filters, on the raw and the pre-aggregated paths alike', async () => {
    const w = `from: "2024-01-01T00:00:00Z", to: "${TO}", asOf: "2024-06-01T00:00:00Z"`;
    const fields = [
      `retentionCohorts(${w}, periods: 2, filter: $f) { cohorts { cohortStart size cells { retained } } }`,
      `retentionRate(${w}, filter: $f) { rate }`,
      `retentionRateSummary(${w}, filter: $f) { pooledRate }`,
      `customerLifetimeValue(${w}, periods: 2, currency: "USD", filter: $f) { orders revenue }`,
      `nps(${w}, filter: $f) { responses }`,
      `csat(${w}, filter: $f) { responses }`,
      `npsImpact(${w}, filter: $f) { promoters { customers } }`,
    ];
    const r = await svc.gql(`query($f: CustomerFilter) { ${fields.join(' ')} }`, { f: { loyaltyTier: ['Gold'] } });
    expect(r.errors).toBeUndefined();
    // Gold as of 06-01: a (first order in February, active in March and April) and f (March only).
    const cohorts = r.data.retentionCohorts.cohorts.map((c: any) => [c.cohortStart.slice(0, 7), c.size, c.cells.map((x: any) => x.retained)]);
    expect(cohorts).toEqual([['2024-02', 1, [1, 1, 1]], ['2024-03', 1, [1, 0, 0]]]);
    // a: 100 + 40 + 60 - 10; f: 15.
    expect(r.data.customerLifetimeValue).toEqual({ orders: 4, revenue: 205 });
    const asOf = new Date('2024-06-01T00:00:00Z');
    const from = new Date('2024-01-01T00:00:00Z');
    const to = new Date(TO);
    for (const filter of [{ loyaltyTier: ['Gold', 'Bronze'] }, { loyaltyMember: false }, { loyaltyMember: true, country: null }]) {
      const cohort = { grain: Grain.MONTH, from, to, periods: 3, asOf, timezone: 'UTC', filter };
      const builders: [string, (s: Source) => { query: string; query_params: Record<string, unknown> }][] = [
        ['retentionCohorts', (s) => retentionCohortsSql(cohort, s)],
        ['clv', (s) => clvSql({ ...cohort, currency: 'USD', margin: 1 }, 3, s)],
        ['repeatPurchase', (s) => repeatPurchaseSql({ asOf, filter }, [{ from, to }], s)],
        ['loyaltyGroups', (s) => loyaltyGroupsSql({ from: new Date(FROM), to, asOf, currency: 'USD', filter }, s)],
      ];
      for (const [name, build] of builders) {
        const rows = (s: Source) => svc.exec.rows(build(s), { requestId: 'loyalty-test' });
        expect({ name, filter, rows: await rows('auto') }).toEqual({ name, filter, rows: await rows('raw') });
      }
    }
  });

  it('breaks KPIs down by LOYALTY_TIER, each group equal to the KPI filtered to its tier', async () => {
    const by = await svc.gql(`{ repeatPurchaseRateBy(from: "${FROM}", to: "${TO}", asOf: "2024-06-01T00:00:00Z", by: LOYALTY_TIER) { key value { customers repeatCustomers orders } } }`);
    expect(by.errors).toBeUndefined();
    // Tiers as of 06-01: a, f Gold; b Bronze; d Silver; c, e, g (a member without a tier) none.
    expect(by.data.repeatPurchaseRateBy).toEqual([
      { key: 'Bronze', value: { customers: 1, repeatCustomers: 0, orders: 1 } },
      { key: 'Gold', value: { customers: 2, repeatCustomers: 1, orders: 3 } },
      { key: 'Silver', value: { customers: 1, repeatCustomers: 0, orders: 1 } },
      { key: null, value: { customers: 1, repeatCustomers: 0, orders: 1 } },
    ]);
    for (const group of by.data.repeatPurchaseRateBy.filter((g: { key: string | null }) => g.key !== null)) {
      const r = await svc.gql(`query($f: CustomerFilter) { repeatPurchaseRate(from: "${FROM}", to: "${TO}", asOf: "2024-06-01T00:00:00Z", filter: $f) { customers repeatCustomers orders } }`, { f: { loyaltyTier: [group.key] } });
      expect(r.data.repeatPurchaseRate).toEqual(group.value);
    }
  });

  it('refuses an empty tier list and a tier no event could carry, naming the argument', async () => {
    for (const [tiers, message] of [
      [[], '"filter.loyaltyTier" is an empty list, which selects no customer; leave it out to select every customer'],
      [['x'.repeat(65)], `"filter.loyaltyTier" values must be 1 to 64 characters long (got "${'x'.repeat(65)}")`],
    ] as const) {
      const r = await svc.gql(PROGRAM, { from: FROM, to: TO, filter: { loyaltyTier: tiers } });
      expect(r.errors[0].extensions.code).toBe('BAD_USER_INPUT');
      expect(r.errors[0].message).toBe(message);
    }
  });

  it('adds loyaltyMembers and pointsOutstanding to kpiSnapshot', async () => {
    const r = await svc.gql(`{ kpiSnapshot(from: "${FROM}", to: "${TO}", currency: "USD", asOf: "2024-06-01T00:00:00Z") { loyaltyMembers pointsOutstanding } }`);
    expect(r.data.kpiSnapshot).toEqual({ loyaltyMembers: 5, pointsOutstanding: 285 });
  });

  it('rejects invalid lines naming the field, and ignores a retried eventId even with other content', async () => {
    const answer = await post([
      L('v-1', 'v', '03-01', 'TIER_CHANGED'),
      L('v-2', 'v', '03-01', 'POINTS_EARNED', { points: 1.5 }),
      L('a-e2', 'a', '03-10', 'POINTS_EARNED', { points: 999 }), // a retry of a stored event
      L('v-3', 'v', '03-01', 'POINTS_REDEEMED', { points: 7 }),
      L('v-3', 'v', '03-02', 'POINTS_REDEEMED', { points: 8 }), // the same event again in one request
    ]);
    expect(answer).toMatchObject({
      accepted: 1, duplicates: 2, rejectedCount: 2,
      rejected: [
        { line: 1, eventId: 'v-1', errors: ['tier: required when action is TIER_CHANGED'] },
        { line: 2, eventId: 'v-2', errors: ['points: must be an integer (got 1.5)'] },
      ],
    });
    const gql = await svc.gql(`mutation($events: [LoyaltyEventInput!]!) { ingestLoyaltyEvents(events: $events) { accepted duplicates rejectedCount rejected { line eventId errors } } }`, {
      events: [
        { eventId: 'v-3', customerId: 'v', occurredAt: at('03-03'), action: 'POINTS_REDEEMED', points: 9 },
        { eventId: 'v-4', customerId: 'v', occurredAt: at('03-03'), action: 'POINTS_EARNED' },
        { eventId: 'v-5', customerId: 'v', occurredAt: at('03-03'), action: 'POINTS_EARNED', points: 20 },
      ],
    });
    expect(gql.data.ingestLoyaltyEvents).toEqual({
      accepted: 1, duplicates: 1, rejectedCount: 1, rejected: [{ line: 2, eventId: 'v-4', errors: ['points: required when action is POINTS_EARNED'] }],
    });
    // The first stored versions count: a's 200, v's 7 redeemed and 20 earned: 285 - 7 + 20.
    expect((await program('2024-06-01T00:00:00Z')).pointsOutstanding).toBe(298);
    expect(await post([L('v-3', 'v', '03-01', 'POINTS_REDEEMED', { points: 7 }), L('v-5', 'v', '03-03', 'POINTS_EARNED', { points: 20 })])).toMatchObject({ accepted: 0, duplicates: 2 });
  });
});

// The same KPI on a randomized store, against a computation written here from the spec's
// words: membership by walking each customer's JOINED/LEFT events in time order (a LEFT after a
// JOINED at the same instant), orders and net revenue by the refund rules, in integer cents.
describe('loyalty program against an independent computation on a randomized store', () => {
  type Ev = { type: string; eventId: string; customerId: string; occurredAt: string; [k: string]: unknown };
  let seed = 20240601;
  const rand = () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  // Few distinct instants, so ties and window edges occur: days of 2024 H1 at 00:00 or 12:00.
  const instant = () => new Date(Date.UTC(2024, 0, 1 + Math.floor(rand() * 182), pick([0, 12]))).toISOString();
  const ACTIONS = ['JOINED', 'JOINED', 'LEFT', 'TIER_CHANGED', 'POINTS_EARNED', 'POINTS_REDEEMED'] as const;
  const events: Ev[] = [];
  let n = 0;
  for (let c = 0; c < 30; c++) {
    const customerId = `r${c}`;
    events.push({ type: 'customer', eventId: `rp-${c}`, customerId, occurredAt: '2024-01-01T00:00:00Z', country: pick(['DE', 'US']) });
    for (let k = Math.floor(rand() * 7); k > 0; k--) {
      const action = pick(ACTIONS);
      const e: Ev = { type: 'loyalty', eventId: `rl-${n++}`, customerId, occurredAt: instant(), action };
      if (action === 'TIER_CHANGED' || (action === 'JOINED' && rand() < 0.5)) e.tier = pick(['Bronze', 'Gold', 'Silver']);
      if (action.startsWith('POINTS')) e.points = 1 + Math.floor(rand() * 500);
      events.push(e);
    }
    for (let k = Math.floor(rand() * 8); k > 0; k--) {
      const eventId = `ro-${n++}`;
      const cents = 100 + Math.floor(rand() * 10_000);
      const occurredAt = instant();
      const currency = rand() < 0.8 ? 'USD' : 'EUR';
      events.push({ type: 'purchase', eventId, customerId, occurredAt, amount: (cents / 100).toFixed(2), currency, cents });
      if (rand() < 0.35) {
        const refundCents = rand() < 0.5 ? cents : 1 + Math.floor(rand() * (cents - 1));
        const later = new Date(Math.max(Date.parse(occurredAt), Date.parse(instant()))).toISOString();
        events.push({ type: 'refund', eventId: `rr-${n++}`, customerId, orderId: eventId, occurredAt: later, amount: (refundCents / 100).toFixed(2), currency, cents: refundCents });
      }
    }
  }
  const ms = (e: Ev) => Date.parse(e.occurredAt);

  function status(customerId: string, t: number): { member: boolean; tier: string | null } {
    const mine = events.filter((e) => e.type === 'loyalty' && e.customerId === customerId && ms(e) <= t);
    const moves = mine.filter((e) => e.action === 'JOINED' || e.action === 'LEFT').sort((x, y) => ms(x) - ms(y) || (x.action === 'LEFT' ? 1 : 0) - (y.action === 'LEFT' ? 1 : 0));
    let start: number | null = null;
    for (const e of moves) start = e.action === 'LEFT' ? null : (start ?? ms(e));
    if (start === null) return { member: false, tier: null };
    const s = start;
    const tiers = mine.filter((e) => (e.action === 'TIER_CHANGED' || e.action === 'JOINED') && e.tier != null && ms(e) >= s);
    tiers.sort((x, y) => ms(x) - ms(y) || (x.eventId < y.eventId ? -1 : 1));
    return { member: true, tier: tiers.length ? (tiers[tiers.length - 1]!.tier as string) : null };
  }

  function expected(from: number, to: number, asOf: number, filter: { loyaltyMember?: boolean; loyaltyTier?: string[]; country?: string[] } = {}) {
    const e = Math.min(to, asOf);
    const selected = (id: string) => {
      const s = status(id, asOf);
      const country = events.find((x) => x.type === 'customer' && x.customerId === id)?.country;
      return (filter.loyaltyMember === undefined || s.member === filter.loyaltyMember) &&
        (filter.loyaltyTier === undefined || (s.tier !== null && filter.loyaltyTier.includes(s.tier))) &&
        (filter.country === undefined || filter.country.includes(country as string));
    };
    const ids = [...new Set(events.map((x) => x.customerId))].filter(selected);
    const loyaltyEvents = events.filter((x) => x.type === 'loyalty' && ids.includes(x.customerId) && ms(x) <= e);
    const inWindow = (x: Ev) => ms(x) >= from && ms(x) < e;
    const sum = (xs: Ev[]) => xs.reduce((s, x) => s + (x.points as number), 0);
    const earnedAll = loyaltyEvents.filter((x) => x.action === 'POINTS_EARNED');
    const redeemedAll = loyaltyEvents.filter((x) => x.action === 'POINTS_REDEEMED');
    const pointsEarned = sum(earnedAll.filter(inWindow));
    const pointsRedeemed = sum(redeemedAll.filter(inWindow));
    // Refund rules as of asOf: each refund names its purchase by eventId here (no orderId given).
    const refundsOf = (p: Ev) => events.filter((r) => r.type === 'refund' && r.orderId === p.eventId && ms(r) <= asOf);
    const orders = events.filter((p) => p.type === 'purchase' && ms(p) <= asOf && refundsOf(p).reduce((s, r) => s + (r.cents as number), 0) < (p.cents as number));
    const population = ids.filter((id) => orders.some((p) => p.customerId === id && ms(p) < from));
    const split = Math.min(from, asOf);
    const figures = (members: string[]) => {
      const windowOrders = orders.filter((p) => members.includes(p.customerId) && inWindow(p));
      const cents = windowOrders.filter((p) => p.currency === 'USD').reduce((s, p) => s + (p.cents as number), 0) -
        orders.filter((p) => members.includes(p.customerId) && p.currency === 'USD').flatMap(refundsOf).filter(inWindow).reduce((s, r) => s + (r.cents as number), 0);
      return group(members.length, new Set(windowOrders.map((p) => p.customerId)).size, windowOrders.length, cents / 100);
    };
    const at = new Map(population.map((id) => [id, status(id, split)]));
    const member = figures(population.filter((id) => at.get(id)!.member));
    const other = figures(population.filter((id) => !at.get(id)!.member));
    const tiers = [...new Set([...at.values()].map((s) => s.tier).filter((t) => t !== null))].sort() as string[];
    return {
      members: ids.filter((id) => status(id, e).member).length,
      joined: loyaltyEvents.filter((x) => x.action === 'JOINED' && inWindow(x)).length,
      left: loyaltyEvents.filter((x) => x.action === 'LEFT' && inWindow(x)).length,
      pointsEarned, pointsRedeemed, redemptionRate: pointsEarned === 0 ? null : pointsRedeemed / pointsEarned,
      pointsOutstanding: sum(earnedAll) - sum(redeemedAll),
      memberGroup: member, nonMemberGroup: other,
      ...(member.customers && other.customers ? difference(member, other) : { activeRateDifference: null, activeRateDifferenceLow: null, activeRateDifferenceHigh: null }),
      tiers: tiers.map((tier) => ({ tier, ...figures(population.filter((id) => at.get(id)!.tier === tier)) })),
    };
  }

  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService('t_loyalty_random');
    const body = events.map(({ cents: _c, ...e }) => JSON.stringify(e)).join('\n');
    const res = await fetch(`${svc.url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body });
    expect(await res.json()).toMatchObject({ accepted: events.length, rejectedCount: 0 });
  });
  afterAll(async () => {
    await svc?.stop();
  });

  const cases: [string, string, string, object | undefined][] = [
    ['2024-03-01T00:00:00Z', '2024-05-01T00:00:00Z', '2024-07-01T00:00:00Z', undefined],
    ['2024-02-01T12:00:00Z', '2024-06-01T00:00:00Z', '2024-04-15T12:00:00Z', undefined],
    ['2024-04-01T00:00:00Z', '2024-05-01T00:00:00Z', '2024-03-01T00:00:00Z', undefined],
    ['2024-03-15T00:00:00Z', '2024-07-01T00:00:00Z', '2024-07-01T00:00:00Z', { loyaltyMember: true }],
    ['2024-03-15T00:00:00Z', '2024-07-01T00:00:00Z', '2024-06-01T00:00:00Z', { loyaltyTier: ['Gold', 'Silver'] }],
    ['2024-02-15T00:00:00Z', '2024-06-15T00:00:00Z', '2024-07-01T00:00:00Z', { country: ['DE'], loyaltyMember: false }],
  ];
  it.each(cases)('from %s to %s as of %s, filter %j', async (from, to, asOf, filter) => {
    const r = await svc.gql(PROGRAM, { from, to, asOf, filter });
    expect(r.errors).toBeUndefined();
    expect(r.data.loyaltyProgram).toEqual(close(expected(Date.parse(from), Date.parse(to), Date.parse(asOf), filter)));
  });

  it('draws a store with members, leavers, tiers and cancelled orders', () => {
    // Guards the seed: a store without these would compare nothing of interest.
    const july = Date.parse('2024-07-01T00:00:00Z');
    const ids = [...new Set(events.map((e) => e.customerId))];
    expect(ids.filter((id) => status(id, july).member).length).toBeGreaterThan(2);
    expect(ids.filter((id) => status(id, july).tier !== null).length).toBeGreaterThan(1);
    expect(events.filter((e) => e.type === 'refund' && e.cents === events.find((p) => p.eventId === e.orderId)!.cents).length).toBeGreaterThan(0);
    expect(events.filter((e) => e.action === 'LEFT').length).toBeGreaterThan(2);
  });
});

describe('Wilson interval at the ends (spec section 14: clamped to [0, 1])', () => {
  it('is exactly 0 below no successes and exactly 1 above all, not a floating-point leftover', () => {
    // With p = 0 the bounds are 0 and z²/(n + z²); with p = 1, 1 - z²/(n + z²) and 1.
    const z2 = 1.959963984540054 ** 2;
    for (const n of [1, 3, 7, 1000]) {
      const none = wilsonOf(0, n);
      const all = wilsonOf(n, n);
      expect(none.low).toBe(0);
      expect(none.high).toBeCloseTo(z2 / (n + z2), 12);
      expect(all.high).toBe(1);
      expect(all.low).toBeCloseTo(1 - z2 / (n + z2), 12);
    }
  });
});
