import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../server/config.js';
import type { ErasureStep } from '../server/ingest/erasures.js';
import { createLogger } from '../server/logger.js';
import { startService } from '../server/service.js';
import { keyedHash, keyedHashParams, keyedHashSql, mutationTarget } from '../server/storage/erase.js';
import { overDistributed } from '../server/storage/state-check.js';
import type { Source } from '../loaders/sql.js';
import { startTestService, testConfig, type TestService } from './helpers/service.js';
import { customerActivity, kpiPairs, referralState } from './helpers/states.js';

// Spec section 16 on a store small enough to work out by hand. x and y are erased:
// - x bought 01-05 (200 USD), 02-10 (60) and 03-01 (40, refunded 10 on 03-10); profile DE; NPS 10;
//   x referred c in r1 (INVITED 01-25, SIGNED_UP 02-01 naming c) and was referred by a in r2
//   (INVITED 01-01 naming no one, SIGNED_UP 01-03 naming x); campaign F SENT 01-04, OPENED 01-05;
// - y: a profile, NPS 0, referred by b in r4 (CLICKED 02-03 naming no one, SIGNED_UP 02-05 naming y),
//   and held out of campaign F on 01-07.
// - loyalty: x joined 01-03 (Gold) and earned 100 on 02-01, y joined 01-04; of those kept, a joined
//   01-02 (Gold) and b joined 01-05 and earned 40 on 02-02.
// Erasing them deletes every event of theirs and every referral event naming them as referrer or
// referred: all of r1, r2's SIGNED_UP, r4's SIGNED_UP. What remains: a (01-10 100, 02-15 50 refunded
// 20 on 03-01, NPS 3), b (01-20 80, 03-05 20, NPS 9, referred by a in r3 SIGNED_UP 01-15), c (02-20
// 30, NPS 10), r2's INVITED and r4's CLICKED, a SENT and b HELD_OUT of campaign F. Every figure must equal the same query on a store
// that never received the erased events (`ref`), on the raw and the pre-aggregated paths.
const at = (d: string) => `2024-${d}T12:00:00Z`;
const P = (eventId: string, customerId: string, d: string, amount: string, orderId: string) => ({ type: 'purchase', eventId, customerId, occurredAt: at(d), amount, currency: 'USD', orderId });
const S = (eventId: string, customerId: string, d: string, score: number) => ({ type: 'survey', eventId, customerId, surveyId: 's', kind: 'NPS', score, occurredAt: at(d) });
const L = (eventId: string, customerId: string, d: string, action: string, extra: object = {}) => ({ type: 'loyalty', eventId, customerId, occurredAt: at(d), action, ...extra });
const C = (customerId: string, country: string) => ({ type: 'customer', eventId: `p-${customerId}`, customerId, occurredAt: at('01-01'), country });
const REF = (eventId: string, referralId: string, stage: string, referrerId: string, d: string, referredCustomerId?: string) => ({
  type: 'referral', eventId, referralId, stage, referrerId, occurredAt: at(d), ...(referredCustomerId ? { referredCustomerId } : {}),
});
const TOUCH = (eventId: string, customerId: string, d: string, stage: string) => ({ type: 'touch', eventId, customerId, occurredAt: at(d), campaign: 'F', stage });
const kept = [
  TOUCH('ta', 'a', '01-05', 'SENT'), TOUCH('tb', 'b', '01-06', 'HELD_OUT'),
  P('a1', 'a', '01-10', '100', 'A1'), P('a2', 'a', '02-15', '50', 'A2'), P('b1', 'b', '01-20', '80', 'B1'), P('b2', 'b', '03-05', '20', 'B2'), P('c1', 'c', '02-20', '30', 'C1'),
  { type: 'refund', eventId: 'ra2', customerId: 'a', orderId: 'A2', occurredAt: at('03-01'), amount: '20', currency: 'USD' },
  S('sa', 'a', '02-16', 3), S('sb', 'b', '03-06', 9), S('sc', 'c', '03-01', 10),
  C('a', 'US'), C('b', 'US'), C('c', 'FR'),
  REF('r2-i', 'r2', 'INVITED', 'a', '01-01'), REF('r3-s', 'r3', 'SIGNED_UP', 'a', '01-15', 'b'), REF('r4-c', 'r4', 'CLICKED', 'b', '02-03'),
  L('la', 'a', '01-02', 'JOINED', { tier: 'Gold' }), L('lb', 'b', '01-05', 'JOINED'), L('lb-e', 'b', '02-02', 'POINTS_EARNED', { points: 40 }),
];
const erased = [
  TOUCH('tx', 'x', '01-04', 'SENT'), TOUCH('tx-o', 'x', '01-05', 'OPENED'), TOUCH('ty', 'y', '01-07', 'HELD_OUT'),
  P('x1', 'x', '01-05', '200', 'X1'), P('x2', 'x', '02-10', '60', 'X2'), P('x3', 'x', '03-01', '40', 'X3'),
  { type: 'refund', eventId: 'rx3', customerId: 'x', orderId: 'X3', occurredAt: at('03-10'), amount: '10', currency: 'USD' },
  S('sx', 'x', '02-11', 10), S('sy', 'y', '02-12', 0), C('x', 'DE'), C('y', 'DE'),
  REF('r1-i', 'r1', 'INVITED', 'x', '01-25'), REF('r1-s', 'r1', 'SIGNED_UP', 'x', '02-01', 'c'),
  REF('r2-s', 'r2', 'SIGNED_UP', 'a', '01-03', 'x'), REF('r4-s', 'r4', 'SIGNED_UP', 'b', '02-05', 'y'),
  L('lx', 'x', '01-03', 'JOINED', { tier: 'Gold' }), L('lx-e', 'x', '02-01', 'POINTS_EARNED', { points: 100 }), L('ly', 'y', '01-04', 'JOINED'),
];
const KEY = 'test-erasure-key-0123456789';
const ASOF = ['2024-04-01T00:00:00Z', '2024-02-12T00:00:00Z'];
const FROM = '2024-01-01T00:00:00Z';
const TO = '2024-04-01T00:00:00Z';

const SNAPSHOT = `query($asOf: DateTime) { kpiSnapshot(from: "${FROM}", to: "${TO}", currency: "USD", asOf: $asOf) {
  customers orders newCustomers repeatPurchaseRate revenue refundAmount cancelledOrders averageOrderValue referralConversionRate nps retentionRate clv
  loyaltyMembers pointsOutstanding } }`;
/** Every KPI and list the erasure must reach, each answered by the store under test and by `ref`. */
const QUERIES: Record<string, string> = {
  snapshot: SNAPSHOT,
  cohorts: `query($asOf: DateTime) { retentionCohorts(from: "${FROM}", to: "${TO}", periods: 3, asOf: $asOf) { cohorts { cohortStart size cells { offset retained } } } }`,
  rate: `query($asOf: DateTime) { retentionRate(from: "${FROM}", to: "${TO}", asOf: $asOf) { periodStart rate } }`,
  repeat: `query($asOf: DateTime) { repeatPurchaseRate(from: "${FROM}", to: "${TO}", asOf: $asOf) { customers repeatCustomers orders rate } }`,
  clv: `query($asOf: DateTime) { customerLifetimeValue(from: "${FROM}", to: "${TO}", currency: "USD", periods: 3, asOf: $asOf) {
    revenue orders customers averageOrderValue activeCustomerPeriods churnRate clv cohorts { cohortStart size cells { offset revenue } } } }`,
  referrals: `query($asOf: DateTime) { referralConversionCohorts(from: "${FROM}", to: "${TO}", asOf: $asOf) { cohortStart invited clicked signedUp converted medianDaysToConvert } }`,
  impact: `query($asOf: DateTime) { referralImpact(from: "${FROM}", to: "${TO}", currency: "USD", asOf: $asOf) { kFactor referred { customers repeatCustomers averageRevenue } organic { customers repeatCustomers averageRevenue } } }`,
  nps: `query($asOf: DateTime) { nps(from: "${FROM}", to: "${TO}", asOf: $asOf) { responses promoters detractors score series { periodStart responses } } }`,
  referredFilter: `query($asOf: DateTime) { repeatPurchaseRate(from: "${FROM}", to: "${TO}", asOf: $asOf, filter: { referred: true }) { customers orders } }`,
  loyalty: `query($asOf: DateTime) { loyaltyProgram(from: "${FROM}", to: "${TO}", currency: "USD", asOf: $asOf) {
    members joined pointsEarned pointsOutstanding memberGroup { customers activeCustomers revenuePerCustomer } nonMemberGroup { customers } tiers { tier customers } } }`,
  memberFilter: `query($asOf: DateTime) { repeatPurchaseRate(from: "${FROM}", to: "${TO}", asOf: $asOf, filter: { loyaltyTier: ["Gold"] }) { customers orders } }`,
  countryFilter: `query($asOf: DateTime) { repeatPurchaseRate(from: "${FROM}", to: "${TO}", asOf: $asOf, filter: { country: ["DE", "US"] }) { customers orders } }`,
  customers: `query($asOf: DateTime) { customers(ids: ["a", "b", "c", "x", "y"], asOf: $asOf) { customerId country firstPurchaseAt orders revenue { amount } } }`,
  dimensions: `query($asOf: DateTime) { storeDimensions(asOf: $asOf) { countries } }`,
  atRisk: `query($asOf: DateTime) { atRiskCustomers(calibrationEnd: $asOf, currency: "USD", maxProbabilityAlive: 1) { totalCount customers { customerId orders } } }`,
  followUp: `query($asOf: DateTime) { followUpImpact(campaign: "F", from: "${FROM}", to: "${TO}", currency: "USD", asOf: $asOf) {
    pending uplift incrementalOrders treated { customers opened converted orders revenue } control { customers converted orders revenue } } }`,
  campaigns: `query($asOf: DateTime) { followUpCampaigns(from: "${FROM}", to: "${TO}", asOf: $asOf) { campaign sent heldOut opened } }`,
  predictions: `query($asOf: DateTime) { customerPredictions(ids: ["a", "b", "x"], horizon: 12, calibrationEnd: $asOf, currency: "USD") { customerId expectedPurchases } }`,
};

const ERASE = `mutation($ids: [String!]!) { eraseCustomers(customerIds: $ids) { id erasedAt customers events } }`;
const LIST = `query($first: Int, $after: String) { erasures(first: $first, after: $after) { id erasedAt customers events } }`;

async function post(svc: TestService, events: object[]) {
  const res = await fetch(`${svc.url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body: events.map((e) => JSON.stringify(e)).join('\n') });
  return (await res.json()) as { accepted: number; duplicates: number; rejectedCount: number; rejected: { line: number; eventId: string; errors: string[] }[] };
}

/** One unlabelled series of GET /metrics. */
async function metric(svc: { url: string }, name: string): Promise<number> {
  const text = await (await fetch(`${svc.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  if (line === undefined) throw new Error(`${name} is not in /metrics`);
  return Number(line.slice(name.length + 1));
}

/** The answer without what differs between two runs of the same query (generatedAt, request ids). */
async function answer(svc: TestService, query: string, asOf: string): Promise<unknown> {
  const r = await svc.gql(query, { asOf });
  return { data: r.data, errors: r.errors?.map((e: { message: string }) => e.message) };
}

/** Every query, on both stores, at both asOf values, and the builders of both sources on both stores. */
async function expectSameAs(svc: TestService, ref: TestService) {
  for (const asOf of ASOF) {
    for (const [name, query] of Object.entries(QUERIES)) {
      expect({ name, asOf, answer: await answer(svc, query, asOf) }).toEqual({ name, asOf, answer: await answer(ref, query, asOf) });
    }
    for (const [name, build] of kpiPairs(new Date(FROM), new Date(TO), new Date(asOf))) {
      const rows = (s: TestService, source: Source) => s.exec.rows(build(source), { requestId: 'erasure-test' });
      const raw = await rows(ref, 'raw');
      expect({ name, asOf, rows: await rows(svc, 'raw') }).toEqual({ name, asOf, rows: raw });
      expect({ name, asOf, rows: await rows(svc, 'auto') }).toEqual({ name, asOf, rows: raw });
      expect({ name, asOf, rows: await rows(ref, 'auto') }).toEqual({ name, asOf, rows: raw });
    }
  }
  // The states equal the grouping of what is left, computed independently from the raw rows, and
  // the reference's states.
  const sql = (s: TestService) => <T>(q: string) => s.exec.rows<T>({ query: q, query_params: {} }, { requestId: 'erasure-test' });
  const activity = await customerActivity(sql(svc), svc.exec.database);
  expect(activity.state).toEqual(activity.raw);
  expect(activity.state).toEqual((await customerActivity(sql(ref), ref.exec.database)).state);
  const referrals = await referralState(sql(svc), svc.exec.database);
  expect(referrals.state).toEqual(referrals.raw);
  expect(referrals.state).toEqual((await referralState(sql(ref), ref.exec.database)).state);
  expect(Object.keys(referrals.state)).toEqual(['r2', 'r3', 'r4']);
}

describe('customer erasure (spec section 16)', { timeout: 120_000 }, () => {
  let svc: TestService;
  let ref: TestService;
  let clock = new Date('2024-06-01T00:00:00Z');

  beforeAll(async () => {
    svc = await startTestService('t_erasure', { ERASURE_HMAC_KEY: KEY }, () => clock);
    ref = await startTestService('t_erasure_ref');
    expect(await post(svc, [...kept, ...erased])).toMatchObject({ accepted: kept.length + erased.length, rejectedCount: 0 });
    expect(await post(ref, kept)).toMatchObject({ accepted: kept.length, rejectedCount: 0 });
  });
  afterAll(async () => {
    await svc?.stop();
    await ref?.stop();
  });

  it('computes the same HMAC in the engine as in the service', async () => {
    const [row] = await svc.exec.rows<{ h: string }>({ query: `SELECT ${keyedHashSql('{v:String}')} AS h`, query_params: { v: 'x', ...keyedHashParams(KEY) } }, { requestId: 't' });
    expect(row!.h).toBe(keyedHash(KEY, 'x'));
    const long = 'k'.repeat(100); // longer than SHA-256's block: hashed first
    const [row2] = await svc.exec.rows<{ h: string }>({ query: `SELECT ${keyedHashSql('{v:String}')} AS h`, query_params: { v: 'é', ...keyedHashParams(long) } }, { requestId: 't' });
    expect(row2!.h).toBe(keyedHash(long, 'é'));
  });

  it('erases every event of the customers, and every figure equals a store that never had them', async () => {
    // Before: the snapshot counts x (hand-computed: 8 orders, 550 net, r1 r2 r3 of r1..r4 converted).
    const before = await svc.gql(SNAPSHOT, { asOf: ASOF[0] });
    expect(before.data.kpiSnapshot).toMatchObject({ customers: 4, orders: 8, revenue: 550, referralConversionRate: 0.75, nps: 20, loyaltyMembers: 4, pointsOutstanding: 140 });
    // Fit and cache the predictive model, and store a snapshot: the erasure must not reach the latter.
    const risk = await svc.gql(QUERIES.atRisk!, { asOf: ASOF[0] });
    expect(risk.data.atRiskCustomers.customers.map((c: { customerId: string }) => c.customerId).sort()).toEqual(['a', 'b', 'x']);
    const taken = await svc.gql(`mutation { takeSnapshot(name: "board", from: "${FROM}", to: "${TO}", currency: "USD", asOf: "${ASOF[0]}") { snapshot { orders revenue } } }`);
    expect(taken.data.takeSnapshot.snapshot).toEqual({ orders: 8, revenue: 550 });

    // The at-risk job's last list, as its daily run leaves it (server/at-risk-job.ts), names x.
    await svc.exec.insert('at_risk_runs', [{ job: 'customer.at_risk', ran_at: '2024-05-31 00:00:00.000', customer_ids: ['a', 'x', 'b'] }], { requestId: 't' });

    const r = await svc.gql(ERASE, { ids: ['x', 'y', 'x'] });
    expect(r.errors).toBeUndefined();
    // x: 3 purchases, a refund, a survey, a profile, two touches, r1-i, r1-s, r2-s and two loyalty events;
    // y: a survey, a profile, a touch, r4-s and a loyalty event.
    expect(r.data.eraseCustomers).toMatchObject({ erasedAt: '2024-06-01T00:00:00.000Z', customers: 2, events: 18 });
    expect([await metric(svc, 'kpi_erasures_total'), await metric(svc, 'kpi_erased_events_total'), await metric(svc, 'kpi_erasure_unfinished')]).toEqual([1, 18, 0]);
    // Campaign F keeps a (sent) and b (held out) only.
    expect((await svc.gql(QUERIES.campaigns!, { asOf: ASOF[0] })).data.followUpCampaigns).toEqual([{ campaign: 'F', sent: 1, heldOut: 1, opened: 0 }]);

    // Hand-computed after: orders a1 a2 b1 b2 c1, 280 - 20 net; r2, r3, r4 started, r3 converted;
    // NPS a 3, b 9, c 10. At 02-12: a1 and b1 only; r2..r4 started; no NPS response yet.
    expect((await svc.gql(SNAPSHOT, { asOf: ASOF[0] })).data.kpiSnapshot).toMatchObject({
      customers: 3, orders: 5, newCustomers: 3, repeatPurchaseRate: 2 / 3, revenue: 260, refundAmount: 20, cancelledOrders: 0,
      averageOrderValue: 52, referralConversionRate: 1 / 3, nps: 100 / 3, loyaltyMembers: 2, pointsOutstanding: 40,
    });
    expect((await svc.gql(SNAPSHOT, { asOf: ASOF[1] })).data.kpiSnapshot).toMatchObject({
      customers: 2, orders: 2, newCustomers: 2, repeatPurchaseRate: 0, revenue: 180, averageOrderValue: 90, referralConversionRate: 1 / 3, nps: null,
    });
    await expectSameAs(svc, ref);
    // No plain id stays behind (spec: erased ids only as keyed hashes): no mutation's text names x
    // or y, no part holds a row of theirs even masked, and the ids the mutations read are gone.
    const ctx = { requestId: 't' };
    const [named] = await svc.exec.rows<{ n: number }>(
      { query: "SELECT count() AS n FROM system.mutations WHERE database = {db:String} AND (position(command, '\\'x\\'') > 0 OR position(command, '\\'y\\'') > 0)", query_params: {} },
      ctx,
    );
    expect(named!.n).toBe(0);
    const unmasked = { apply_deleted_mask: 0 };
    for (const [table, where] of [['purchases', "customer_id IN ('x', 'y')"], ['touches', "customer_id IN ('x', 'y')"], ['referrals', "referrer_id IN ('x', 'y') OR referred_customer_id IN ('x', 'y')"], ['customer_activity', "customer_id IN ('x', 'y')"]]) {
      const [held] = await svc.exec.rows<{ n: number }>({ query: `SELECT count() AS n FROM {db:Identifier}.${table} WHERE ${where}`, query_params: {} }, ctx, unmasked);
      expect(held!.n, table).toBe(0);
    }
    const [ids] = await svc.exec.rows<{ n: number }>({ query: 'SELECT count() AS n FROM {db:Identifier}.erasure_ids', query_params: {} }, ctx);
    expect(ids!.n).toBe(0);
    // Nor the at-risk job's last list, from which x left while a and b stay (so the next run
    // still publishes only newcomers); no part keeps the old list, masked or not.
    const [list] = await svc.exec.rows<{ ids: string[]; n: number }>(
      { query: "SELECT any(customer_ids) AS ids, countIf(has(customer_ids, 'x')) AS n FROM {db:Identifier}.at_risk_runs", query_params: {} },
      ctx,
      unmasked,
    );
    expect(list).toEqual({ ids: ['a', 'b'], n: 0 });
    // Nor the ingest log, through which their events were acknowledged.
    const logged = readFileSync(join(testConfig('t_erasure').dataDir, 'ingest-log', 't_erasure', 'groups.ndjson'), 'utf8');
    expect(logged).not.toMatch(/"(x|y)"/);
    // A stored snapshot keeps its values (aggregates only).
    const stored = await svc.gql(`{ latestKpiSnapshot(name: "board") { snapshot { orders revenue } } }`);
    expect(stored.data.latestKpiSnapshot.snapshot).toEqual({ orders: 8, revenue: 550 });
  });

  it('answers an erasure again as a no-op, and lists erasures newest first without ids', async () => {
    const first = (await svc.gql(LIST, {})).data.erasures;
    expect(first).toHaveLength(1);
    const again = await svc.gql(ERASE, { ids: ['y', 'x'] });
    expect(again.data.eraseCustomers).toEqual(first[0]);
    expect((await svc.gql(LIST, {})).data.erasures).toEqual(first);
    expect(await metric(svc, 'kpi_erasures_total')).toBe(1);
    await expectSameAs(svc, ref);
  });

  it('rejects replayed events dated before the erasure and accepts later ones, on every ingest path', async () => {
    const replay = [
      P('x1', 'x', '01-05', '200', 'X1'), // the same eventId: erased, not a duplicate
      P('x9', 'x', '05-31', '5', 'X9'), // a new eventId, still before the erasure (06-01)
      REF('r5-s', 'r5', 'SIGNED_UP', 'c', '03-01', 'y'), // names y as the referred customer
      P('c2', 'c', '03-02', '10', 'C2'), // c is not erased
      P('x10', 'x', '07-01', '70', 'X10'), // after the erasure: a new relationship
    ];
    const res = await post(svc, replay);
    expect(res).toEqual({
      accepted: 2, duplicates: 0, rejectedCount: 3,
      rejected: [1, 2, 3].map((line) => ({ line, eventId: replay[line - 1]!.eventId, errors: ['customer erased'] })),
    });
    const gql = await svc.gql(`mutation { upsertCustomers(events: [{ eventId: "p-y2", customerId: "y", occurredAt: "2024-05-01T00:00:00Z" }]) { accepted rejected { line eventId errors } } }`);
    expect(gql.data.upsertCustomers).toEqual({ accepted: 0, rejected: [{ line: 1, eventId: 'p-y2', errors: ['customer erased'] }] });
    const x = await svc.gql(`{ customers(ids: ["x", "y"], asOf: "2024-07-02T00:00:00Z") { customerId firstPurchaseAt orders } }`);
    expect(x.data.customers).toEqual([{ customerId: 'x', firstPurchaseAt: '2024-07-01T12:00:00.000Z', orders: 1 }, null]);
    // The reference takes c2; x10 goes with the next erasure.
    expect(await post(ref, [P('c2', 'c', '03-02', '10', 'C2')])).toMatchObject({ accepted: 1 });
  });

  it('erases through POST /v1/erasures (the relationship begun after the first erasure too)', async () => {
    clock = new Date('2024-08-01T00:00:00Z');
    const erase = (body: string) => fetch(`${svc.url}/v1/erasures`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const res = await erase(JSON.stringify({ customerIds: ['x'] }));
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body).toMatchObject({ erasedAt: '2024-08-01T00:00:00.000Z', customers: 1, events: 1 });
    expect((await erase('{"ids": []}')).status).toBe(400);
    expect(await (await erase(JSON.stringify({ customerIds: [] }))).json()).toMatchObject({ error: { code: 'BAD_USER_INPUT' } });
    expect(await (await erase(JSON.stringify({ customerIds: [42] }))).json()).toMatchObject({ error: { code: 'BAD_USER_INPUT' } });
    // Newest first, a page at a time.
    const page1 = (await svc.gql(LIST, { first: 1 })).data.erasures;
    expect(page1).toEqual([body]);
    const page2 = (await svc.gql(LIST, { first: 1, after: body.id })).data.erasures;
    expect(page2.map((n: { erasedAt: string }) => n.erasedAt)).toEqual(['2024-06-01T00:00:00.000Z']);
    expect((await svc.gql(LIST, { first: 1, after: page2[0].id })).data.erasures).toEqual([]);
    expect((await svc.gql(LIST, { after: 'no-such-erasure' })).errors[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'after' });
    await expectSameAs(svc, ref);
  });

  it('answers ERASURE_KEY_MISSING without the key, and the service runs on', async () => {
    const r = await ref.gql(ERASE, { ids: ['a'] });
    expect(r.errors[0].extensions.code).toBe('ERASURE_KEY_MISSING');
    expect(r.errors[0].message).toMatch(/ERASURE_HMAC_KEY is not set/);
    expect((await ref.gql(QUERIES.repeat!, { asOf: ASOF[0] })).data.repeatPurchaseRate.customers).toBe(3);
  });
});

describe('customer erasure: scope and key', () => {
  const READ = 'reader-secret-0123456789';
  const ADMIN = 'admin-secret-0123456789';
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService('t_erasure_scope', { ERASURE_HMAC_KEY: KEY, API_KEYS: `dash:read:${READ},ops:admin:${ADMIN}` });
  });
  afterAll(async () => {
    await svc?.stop();
  });

  it('needs the admin scope for the mutation, the route and the listing, through fragments too', async () => {
    const as = (key: string) => ({ authorization: `Bearer ${key}` });
    const viaFragment = `query { ...F } fragment F on Query { erasures { id } }`;
    for (const [query, variables] of [[ERASE, { ids: ['a'] }], [LIST, {}], [viaFragment, {}]] as const) {
      const r = await svc.gql(query, variables, as(READ));
      expect(r.status).toBe(403);
      expect(r.errors[0].extensions.code).toBe('FORBIDDEN');
    }
    const route = await fetch(`${svc.url}/v1/erasures`, { method: 'POST', headers: as(READ), body: '{"customerIds": ["a"]}' });
    expect(route.status).toBe(403);
    expect((await svc.gql(viaFragment, {}, as(ADMIN))).data.erasures).toEqual([]);
    expect((await svc.gql(ERASE, { ids: ['a'] }, as(ADMIN))).data.eraseCustomers).toMatchObject({ customers: 1, events: 0 });
  });

  it('screens a customer seen since the last erasure once they are erased too', async () => {
    const send = (events: object[]) =>
      fetch(`${svc.url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson', authorization: `Bearer ${ADMIN}` }, body: events.map((e) => JSON.stringify(e)).join('\n') }).then((r) => r.json());
    // b is screened (an erasure exists) and found not erased: remembered as such.
    expect(await send([P('b1', 'b', '01-20', '80', 'B1')])).toMatchObject({ accepted: 1, rejectedCount: 0 });
    expect((await svc.gql(ERASE, { ids: ['b'] }, { authorization: `Bearer ${ADMIN}` })).data.eraseCustomers).toMatchObject({ customers: 1, events: 1 });
    expect(await send([P('b1', 'b', '01-20', '80', 'B1'), P('b2', 'b', '03-05', '20', 'B2')])).toMatchObject({ accepted: 0, rejectedCount: 2 });
  });

  it('refuses a short ERASURE_HMAC_KEY at start without printing it', () => {
    let error: unknown;
    try {
      loadConfig({ ERASURE_HMAC_KEY: 'short-secret' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(/ERASURE_HMAC_KEY=\(hidden\) is shorter than 16 characters/);
    expect((error as Error).message).not.toContain('short-secret');
  });
});

describe('customer erasure on a cluster (rendering)', () => {
  it("deletes from each shard's local table ON CLUSTER, as migrations render DDL", () => {
    expect(mutationTarget('kpi', undefined, 'purchases')).toBe('`kpi`.purchases');
    expect(mutationTarget('kpi', 'c1', 'purchases')).toBe('`kpi`.purchases_local ON CLUSTER c1');
  });

  it("rebuilds state keys from the view's SELECT over the Distributed source", () => {
    expect(overDistributed('SELECT referral_id FROM kpi.referrals_local GROUP BY referral_id', ['referrals'])).toBe('SELECT referral_id FROM kpi.referrals GROUP BY referral_id');
    expect(overDistributed('SELECT c FROM `kpi`.`purchases_local` AS p', ['purchases'])).toBe('SELECT c FROM `kpi`.`purchases` AS p');
  });
});

describe('customer erasure interrupted by a crash', { timeout: 120_000 }, () => {
  let ref: TestService;
  beforeAll(async () => {
    ref = await startTestService('t_erasure_crash_ref');
    await post(ref, kept);
  });
  afterAll(async () => {
    await ref?.stop();
  });

  for (const step of ['recorded', 'deleted'] as ErasureStep[]) {
    it(`is finished at the next start when it stopped after the step "${step}"`, async () => {
      const database = `t_erasure_crash_${step}`;
      const config = testConfig(database, { ERASURE_HMAC_KEY: KEY });
      const crashing = await startService(config, createLogger('silent'), {
        afterStep: (s) => {
          if (s === step) throw new Error(`crash after ${s}`);
        },
      });
      const svc = Object.assign(crashing, { gql: undefined as never }) as unknown as TestService;
      expect(await post(svc, [...kept, ...erased])).toMatchObject({ accepted: kept.length + erased.length });
      const res = await fetch(`${svc.url}/v1/erasures`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ customerIds: ['x', 'y'] }) });
      expect(res.status).toBe(500);
      // Recorded first: the replay screen holds from then on, before any row is deleted.
      expect((await post(svc, [P('x1', 'x', '01-05', '200', 'X1')])).rejected[0]!.errors).toEqual(['customer erased']);
      if (step === 'deleted') {
        // Not ready meanwhile (the probe's retry of the erasure stops at the same step again).
        const ready = await fetch(`${svc.url}/readyz`);
        expect(ready.status).toBe(503);
        expect(await ready.json()).toMatchObject({ reason: expect.stringMatching(/an erasure was recorded and not finished/) });
      }
      expect([await metric(svc, 'kpi_erasures_total'), await metric(svc, 'kpi_erasure_unfinished')]).toEqual([0, 1]);
      await crashing.stop();

      const restarted = await startTestService(database, { ERASURE_HMAC_KEY: KEY });
      try {
        await expectSameAs(restarted, ref);
        const list = (await restarted.gql(LIST, {})).data.erasures;
        expect(list).toMatchObject([{ customers: 2, events: 18 }]);
        // Finished at start, before the service listened.
        expect([await metric(restarted, 'kpi_erasures_total'), await metric(restarted, 'kpi_erased_events_total'), await metric(restarted, 'kpi_erasure_unfinished')]).toEqual([1, 18, 0]);
      } finally {
        await restarted.stop();
      }
      // Without the key the service starts, and refuses writes it could not screen.
      const keyless = await startTestService(database);
      try {
        const res = await fetch(`${keyless.url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body: JSON.stringify(P('x1', 'x', '01-05', '200', 'X1')) });
        expect(res.status).toBe(503);
        expect(await res.json()).toMatchObject({ error: { code: 'ERASURE_KEY_MISSING' } });
        // Not ready, since ready means the store takes writes; reads are answered.
        const ready = await fetch(`${keyless.url}/readyz`);
        expect([ready.status, (await ready.json()).reason]).toEqual([503, expect.stringMatching(/^customers were erased and ERASURE_HMAC_KEY is not set/)]);
        expect((await keyless.gql(QUERIES.repeat!, { asOf: ASOF[0] })).data.repeatPurchaseRate.customers).toBe(3);
      } finally {
        await keyless.stop();
      }
    });
  }
});
