import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { followUpImpactSql } from '../loaders/follow-up.sql.js';
import { startTestService, type TestService } from './helpers/service.js';
import { runTsx } from './helpers/process.js';

// Spec section 15 on a store small enough to work out by hand. Campaign C, window [01-01, 03-01),
// windowDays 10, currency USD (times 2024, 00:00Z unless written):
// - t1: SENT and HELD_OUT both at 01-05 (tie: SENT, so treated, t0 01-05); OPENED 01-04 (before t0:
//   not counted); CLICKED 01-06. Purchases 70 USD exactly at t0 (not in (t0, t0+10d]) and 100 USD
//   exactly at 01-15 = t0 + 10 d (counted). Also SENT of campaign D at 01-02.
// - t2: SENT 01-10, OPENED 01-10 (at t0: counted), SENT again 01-12 (t0 stays 01-10). Purchases
//   01-11 200 USD cancelled by a refund of 200 at 01-20T12:00, 01-12 50 EUR, 01-13 80 USD refunded
//   30 at 01-18: 2 orders, 80 - 30 = 50 USD net (the cancelled order counts nowhere).
// - t3: HELD_OUT 01-08 then SENT 01-09 (control, t0 01-08); OPENED 01-09. Purchase 01-10 40 USD,
//   refunded 10 at 01-25 (after its window ends 01-18: revenue 40 in the window); 01-20 10 USD (after).
// - t4: HELD_OUT 01-20, no purchase. t5: SENT 01-25, OPENED 03-02 (after asOf), no purchase.
// - p1 SENT 02-25 and p2 HELD_OUT 02-28: their windows end after asOf 03-01: pending.
// - o1 SENT 2023-12-31 and x1 HELD_OUT 03-01 (= to): outside the window. u1 only OPENED: never assigned.
// - h1 HELD_OUT of campaign E at 01-03.
// At asOf 03-01: treated t1 t2 t5 (3 customers, opened 1 (t2), clicked 1 (t1), converted 2, orders 3,
// revenue 150); control t3 t4 (2, opened 1, clicked 0, converted 1, orders 1, revenue 40); pending 2;
// uplift 2/3 - 1/2; incrementalOrders 3 x (3/3 - 1/2) = 1.5.
const at = (d: string) => (d.length === 5 ? `2024-${d}T00:00:00Z` : d);
let n = 0;
const T = (customerId: string, d: string, stage: string, campaign = 'C') => ({ type: 'touch', eventId: `tc-${++n}`, customerId, occurredAt: at(d), campaign, stage });
const P = (eventId: string, customerId: string, d: string, amount: string, currency = 'USD') => ({ type: 'purchase', eventId, customerId, occurredAt: at(d), amount, currency });
const R = (eventId: string, customerId: string, orderId: string, d: string, amount: string) => ({ type: 'refund', eventId, customerId, orderId, occurredAt: at(d), amount, currency: 'USD' });

const touches = [
  T('t1', '01-05', 'SENT'), T('t1', '01-05', 'HELD_OUT'), T('t1', '01-04', 'OPENED'), T('t1', '01-06', 'CLICKED'), T('t1', '01-02', 'SENT', 'D'),
  T('t2', '01-10', 'SENT'), T('t2', '01-10', 'OPENED'), T('t2', '01-12', 'SENT'),
  { ...T('t3', '01-08', 'HELD_OUT'), eventId: 't3-held' }, T('t3', '01-09', 'SENT'), T('t3', '01-09', 'OPENED'),
  T('t4', '01-20', 'HELD_OUT'), T('t5', '01-25', 'SENT'), T('t5', '03-02', 'OPENED'), T('t5', '01-26', 'OPENED', 'D'),
  T('p1', '02-25', 'SENT'), T('p2', '02-28', 'HELD_OUT'),
  T('o1', '2023-12-31T00:00:00Z', 'SENT'), T('x1', '03-01', 'HELD_OUT'), T('u1', '01-10', 'OPENED'),
  T('h1', '01-03', 'HELD_OUT', 'E'),
];
const orders = [
  P('t1-a', 't1', '01-05', '70'), P('t1-b', 't1', '01-15', '100'),
  P('t2-a', 't2', '01-11', '200'), P('t2-b', 't2', '01-12', '50', 'EUR'), P('t2-c', 't2', '01-13', '80'),
  R('r-t2-a', 't2', 't2-a', '2024-01-20T12:00:00Z', '200'), R('r-t2-c', 't2', 't2-c', '01-18', '30'),
  P('t3-a', 't3', '01-10', '40'), R('r-t3-a', 't3', 't3-a', '01-25', '10'), P('t3-b', 't3', '01-20', '10'),
];

const IMPACT = `query($campaign: String!, $from: DateTime!, $to: DateTime!, $windowDays: Int, $currency: String, $asOf: DateTime) {
  followUpImpact(campaign: $campaign, from: $from, to: $to, windowDays: $windowDays, currency: $currency, asOf: $asOf) {
    campaign pending uplift upliftLow upliftHigh incrementalOrders
    treated { customers opened clicked converted conversionRate conversionRateLow conversionRateHigh orders revenue }
    control { customers opened clicked converted conversionRate conversionRateLow conversionRateHigh orders revenue }
  }
}`;
const CAMPAIGNS = `query($from: DateTime!, $to: DateTime!, $asOf: DateTime) {
  followUpCampaigns(from: $from, to: $to, asOf: $asOf) { campaign sent heldOut opened clicked openRate clickRate }
}`;
const WINDOW = { from: at('01-01'), to: at('03-01') };

/** The spec's 95% Wilson score interval, written out again here from its formula. */
function wilsonInterval(x: number, n: number): [number, number] {
  const z = 1.959963984540054;
  const p = x / n;
  const c = p + (z * z) / (2 * n);
  const s = z * Math.sqrt((p * (1 - p) + (z * z) / (4 * n)) / n);
  return [Math.max(0, (c - s) / (1 + (z * z) / n)), Math.min(1, (c + s) / (1 + (z * z) / n))];
}

interface Group {
  customers: number; opened: number; clicked: number; converted: number;
  conversionRate: number | null; conversionRateLow: number | null; conversionRateHigh: number | null; orders: number; revenue: number;
}
function group(customers: number, opened: number, clicked: number, converted: number, orders: number, revenue: number): Group {
  const [low, high] = customers === 0 ? [null, null] : wilsonInterval(converted, customers);
  return { customers, opened, clicked, converted, conversionRate: customers === 0 ? null : converted / customers, conversionRateLow: low, conversionRateHigh: high, orders, revenue };
}
function impact(campaign: string, pending: number, treated: Group, control: Group) {
  if (treated.customers === 0 || control.customers === 0) {
    return { campaign, pending, treated, control, uplift: null, upliftLow: null, upliftHigh: null, incrementalOrders: null };
  }
  const p1 = treated.conversionRate!;
  const p2 = control.conversionRate!;
  const d = p1 - p2;
  return {
    campaign, pending, treated, control, uplift: d,
    upliftLow: d - Math.sqrt((p1 - treated.conversionRateLow!) ** 2 + (control.conversionRateHigh! - p2) ** 2),
    upliftHigh: d + Math.sqrt((treated.conversionRateHigh! - p1) ** 2 + (p2 - control.conversionRateLow!) ** 2),
    incrementalOrders: treated.customers * (treated.orders / treated.customers - control.orders / control.customers),
  };
}

/** Numbers compared to 12 significant digits: the engine and the reference add in different orders. */
function close(value: unknown): unknown {
  // Twelve digits, and within 1e-12 of 0 is 0 (a Wilson bound at no conversions is exactly 0).
  if (typeof value === 'number') return Math.abs(value) < 1e-12 ? 0 : Number(value.toPrecision(12));
  if (Array.isArray(value)) return value.map(close);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, close(v)]));
  return value;
}

let svc: TestService;
async function post(events: object[]) {
  const res = await fetch(`${svc.url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body: events.map((e) => JSON.stringify(e)).join('\n') });
  return (await res.json()) as { accepted: number; duplicates: number; rejectedCount: number; rejected: { line: number; eventId: string | null; errors: string[] }[] };
}

beforeAll(async () => {
  svc = await startTestService('t_follow_up');
  expect(await post([...touches, ...orders])).toMatchObject({ accepted: touches.length + orders.length, rejectedCount: 0 });
});
afterAll(async () => {
  await svc?.stop();
});

describe('followUpImpact and followUpCampaigns (spec section 15), worked by hand', () => {
  it('ignores a retried touch even when its content differs (the first stored wins)', async () => {
    // t3's HELD_OUT again, as a SENT before everything: were it stored, t3 would be treated.
    const retry = { ...T('t3', '2024-01-01T00:00:00Z', 'SENT'), eventId: 't3-held' };
    expect(await post([retry, retry])).toEqual({ accepted: 0, duplicates: 2, rejectedCount: 0, rejected: [] });
    const r = await svc.gql(`mutation($e: [TouchInput!]!) { ingestTouches(events: $e) { accepted duplicates rejectedCount } }`, {
      e: [{ eventId: 't3-held', customerId: 't3', occurredAt: '2024-01-01T00:00:00Z', campaign: 'C', stage: 'SENT' }],
    });
    expect(r.data.ingestTouches).toEqual({ accepted: 0, duplicates: 1, rejectedCount: 0 });
  });

  it('splits treated and control, counts engagement from t0 on and conversions in (t0, t0 + window]', async () => {
    const r = await svc.gql(IMPACT, { campaign: 'C', ...WINDOW, windowDays: 10, currency: 'USD', asOf: at('03-01') });
    expect(r.errors).toBeUndefined();
    expect(close(r.data.followUpImpact)).toEqual(close(impact('C', 2, group(3, 1, 1, 2, 3, 150), group(2, 1, 0, 1, 1, 40))));
    // Worked on paper: Wilson(2, 3) = [0.20766, 0.93851], Wilson(1, 2) = [0.09453, 0.90547], so
    // uplift 1/6 in [1/6 - sqrt(0.45901² + 0.40547²), 1/6 + sqrt(0.27184² + 0.40547²)] = [-0.44578, 0.65483].
    const got = r.data.followUpImpact;
    expect([got.treated.conversionRateLow, got.treated.conversionRateHigh, got.control.conversionRateLow, got.control.conversionRateHigh].map((x: number) => x.toFixed(5)))
      .toEqual(['0.20766', '0.93851', '0.09453', '0.90547']);
    expect([got.upliftLow, got.upliftHigh].map((x: number) => x.toFixed(4))).toEqual(['-0.4458', '0.6548']);
    expect(r.data.followUpImpact.uplift).toBeCloseTo(1 / 6, 12);
    expect(r.data.followUpImpact.incrementalOrders).toBeCloseTo(1.5, 12);
  });

  it('evaluates as of asOf: later touches, later refunds and windows not yet ended do not count', async () => {
    // At 01-20 00:00: t4 just assigned, its window still open (pending); t5, p1, p2 not yet assigned;
    // t2's 200 USD order is not cancelled yet (its refund comes at 12:00): 3 orders, 250 USD.
    const r = await svc.gql(IMPACT, { campaign: 'C', ...WINDOW, windowDays: 10, currency: 'USD', asOf: at('01-20') });
    expect(close(r.data.followUpImpact)).toEqual(close(impact('C', 1, group(2, 1, 1, 2, 4, 350), group(1, 1, 0, 1, 1, 40))));
    expect(r.data.followUpImpact).toMatchObject({ uplift: 0, incrementalOrders: 2 });
    // At 01-14 every assigned customer's window is still open: both groups empty, every rate null.
    const early = await svc.gql(IMPACT, { campaign: 'C', ...WINDOW, windowDays: 10, asOf: at('01-14') });
    expect(early.data.followUpImpact).toEqual(impact('C', 3, group(0, 0, 0, 0, 0, 0), group(0, 0, 0, 0, 0, 0)));
  });

  it('defaults windowDays to 30 and counts revenue in the currency asked', async () => {
    // 30 days: t1 also converts nothing more; t3's 01-20 purchase and its 01-25 refund now fall in
    // its window (orders 2, 40 - 10 + 10 = 40 USD); t4 (to 02-19) and t5 (to 02-24) measurable;
    // p1, p2 pending. In EUR only t2's 50 EUR order counts.
    const r = await svc.gql(IMPACT, { campaign: 'C', ...WINDOW, currency: 'EUR', asOf: at('03-01') });
    expect(close(r.data.followUpImpact)).toEqual(close(impact('C', 2, group(3, 1, 1, 2, 3, 50), group(2, 1, 0, 1, 2, 0))));
  });

  it('lists campaigns with assignments in the window, in campaign order, with null rates when none was sent', async () => {
    const r = await svc.gql(CAMPAIGNS, { ...WINDOW, asOf: at('03-01') });
    expect(r.data.followUpCampaigns).toEqual([
      { campaign: 'C', sent: 4, heldOut: 3, opened: 1, clicked: 1, openRate: 0.25, clickRate: 0.25 },
      { campaign: 'D', sent: 1, heldOut: 0, opened: 0, clicked: 0, openRate: 0, clickRate: 0 },
      { campaign: 'E', sent: 0, heldOut: 1, opened: 0, clicked: 0, openRate: null, clickRate: null },
    ]);
    // Only C's o1 before 2024; a window nobody was assigned in answers an empty list.
    const before = await svc.gql(CAMPAIGNS, { from: '2023-12-01T00:00:00Z', to: at('01-01'), asOf: at('03-01') });
    expect(before.data.followUpCampaigns).toEqual([{ campaign: 'C', sent: 1, heldOut: 0, opened: 0, clicked: 0, openRate: 0, clickRate: 0 }]);
    expect((await svc.gql(CAMPAIGNS, { from: at('06-01'), to: at('07-01') })).data.followUpCampaigns).toEqual([]);
  });

  it('refuses bad arguments with BAD_USER_INPUT naming the argument', async () => {
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ campaign: '' }, 'campaign', /campaign: must be 1 to 128 characters long \(got 0\)/],
      [{ campaign: 'x'.repeat(129) }, 'campaign', /campaign: must be 1 to 128 characters long \(got 129\)/],
      [{ windowDays: 0 }, 'windowDays', /"windowDays" must be an integer from 1 to 3650 \(got 0\)/],
      [{ windowDays: 3651 }, 'windowDays', /"windowDays" must be an integer from 1 to 3650/],
      [{ currency: 'usd' }, 'currency', /"currency" must be an ISO 4217 code/],
      [{ from: at('03-01'), to: at('01-01') }, 'from', /"from" \(2024-03-01T00:00:00.000Z\) must be earlier than "to"/],
      [{ to: '2100-01-02T00:00:00Z' }, 'to', /"to" must be in/],
      [{ asOf: '1969-12-31T00:00:00Z' }, 'asOf', /"asOf" must be in/],
    ];
    for (const [args, field, message] of cases) {
      const r = await svc.gql(IMPACT, { campaign: 'C', ...WINDOW, ...args });
      expect({ field, message: r.errors?.[0]?.message, code: r.errors?.[0]?.extensions?.code }).toMatchObject({ field, message: expect.stringMatching(message), code: 'BAD_USER_INPUT' });
    }
    const r = await svc.gql(CAMPAIGNS, { from: at('03-01'), to: at('03-01') });
    expect(r.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT' } });
  });
});

describe('the size of followUpCampaigns', () => {
  it('answers 1 000 campaigns and refuses a window holding more, naming the limit', async () => {
    const many = Array.from({ length: 1001 }, (_, i) => ({ type: 'touch', eventId: `many-${i}`, customerId: 'many', occurredAt: `2030-01-0${1 + (i % 2)}T00:00:00Z`, campaign: `m${String(i).padStart(4, '0')}`, stage: 'SENT' }));
    expect(await post(many)).toMatchObject({ accepted: 1001 });
    const full = await svc.gql(CAMPAIGNS, { from: '2030-01-01T00:00:00Z', to: '2030-01-03T00:00:00Z', asOf: '2030-02-01T00:00:00Z' });
    expect(full.data).toBeNull();
    expect(full.errors[0]).toMatchObject({
      message: 'More than 1000 campaigns have assignments between 2030-01-01T00:00:00.000Z and 2030-01-03T00:00:00.000Z; one call answers at most 1000: choose a shorter window',
      extensions: { code: 'BAD_USER_INPUT', field: 'from' },
    });
    // The first day holds campaigns 0, 2, …, 1000: 501 of them, in campaign order.
    const day = await svc.gql(CAMPAIGNS, { from: '2030-01-01T00:00:00Z', to: '2030-01-02T00:00:00Z', asOf: '2030-02-01T00:00:00Z' });
    expect(day.data.followUpCampaigns.map((c: { campaign: string }) => c.campaign)).toEqual(many.filter((_, i) => i % 2 === 0).map((e) => e.campaign));
  });
});

describe('the worked example of docs/kpis.md', () => {
  it('answers what the page says (the page names no year: 2025 here, apart from the store above)', async () => {
    const d = (md: string) => `2025-${md}Z`;
    const touch = (eventId: string, customerId: string, when: string, stage: string) => ({ type: 'touch', eventId, customerId, occurredAt: d(when), campaign: 'spring', stage });
    const buy = (eventId: string, customerId: string, when: string, amount: string) => ({ type: 'purchase', eventId, customerId, occurredAt: d(when), amount, currency: 'USD' });
    const refund = (eventId: string, customerId: string, orderId: string, when: string, amount: string) => ({ type: 'refund', eventId, customerId, orderId, occurredAt: d(when), amount, currency: 'USD' });
    expect(await post([
      touch('da-s', 'doc-a', '01-05T00:00:00', 'SENT'), touch('da-h', 'doc-a', '01-05T00:00:00', 'HELD_OUT'), touch('da-o', 'doc-a', '01-04T00:00:00', 'OPENED'),
      buy('da-1', 'doc-a', '01-05T00:00:00', '70'), buy('da-2', 'doc-a', '01-15T00:00:00', '100'),
      touch('db-s', 'doc-b', '01-10T00:00:00', 'SENT'), touch('db-o', 'doc-b', '01-10T00:00:00', 'OPENED'), touch('db-s2', 'doc-b', '01-12T00:00:00', 'SENT'),
      buy('db-1', 'doc-b', '01-11T00:00:00', '200'), refund('db-r1', 'doc-b', 'db-1', '01-20T00:00:00', '200'),
      buy('db-2', 'doc-b', '01-13T00:00:00', '80'), refund('db-r2', 'doc-b', 'db-2', '01-18T00:00:00', '30'),
      touch('dc-h', 'doc-c', '01-08T00:00:00', 'HELD_OUT'), touch('dc-s', 'doc-c', '01-09T00:00:00', 'SENT'), touch('dc-o', 'doc-c', '01-09T00:00:00', 'OPENED'),
      buy('dc-1', 'doc-c', '01-10T00:00:00', '40'),
      touch('dd-h', 'doc-d', '01-20T00:00:00', 'HELD_OUT'), touch('de-s', 'doc-e', '01-25T00:00:00', 'SENT'),
    ])).toMatchObject({ accepted: 18, rejectedCount: 0 });
    const window = { campaign: 'spring', from: d('01-01T00:00:00'), to: d('02-01T00:00:00'), windowDays: 10, currency: 'USD' };
    const r = await svc.gql(IMPACT, { ...window, asOf: d('03-01T00:00:00') });
    expect(close(r.data.followUpImpact)).toEqual(close(impact('spring', 0, group(3, 1, 0, 2, 2, 150), group(2, 1, 0, 1, 1, 40))));
    const got = r.data.followUpImpact;
    expect([got.uplift, got.upliftLow, got.upliftHigh, got.incrementalOrders].map((x: number) => x.toFixed(4))).toEqual(['0.1667', '-0.4458', '0.6548', '0.5000']);
    const early = await svc.gql(IMPACT, { ...window, asOf: d('01-14T00:00:00') });
    expect(early.data.followUpImpact).toMatchObject({ pending: 3, uplift: null, incrementalOrders: null, treated: { customers: 0 }, control: { customers: 0 } });
    const campaigns = await svc.gql(CAMPAIGNS, { from: d('01-01T00:00:00'), to: d('02-01T00:00:00'), asOf: d('03-01T00:00:00') });
    expect(campaigns.data.followUpCampaigns).toEqual([{ campaign: 'spring', sent: 3, heldOut: 2, opened: 1, clicked: 0, openRate: 1 / 3, clickRate: 0 }]);
  });
});

describe('touch events (spec sections 1, 10, 15)', () => {
  it('rejects invalid touches with an error per field, on NDJSON and the mutation', async () => {
    const res = await post([
      { type: 'touch', eventId: 'bad-1', customerId: 'z', occurredAt: '2024-01-01T00:00:00', campaign: '', stage: 'BOUNCED' },
      { type: 'touch', eventId: 'bad-2', occurredAt: '2024-01-01T00:00:00Z', stage: 'SENT', channel: 'E\tMAIL', campaign: 'c'.repeat(129) },
      { type: 'touch', eventId: 'ok-1', customerId: 'z', occurredAt: '2024-01-01T00:00:00+02:00', campaign: 'Z', stage: 'SENT', channel: 'SMS' },
    ]);
    expect(res).toEqual({
      accepted: 1, duplicates: 0, rejectedCount: 2,
      rejected: [
        { line: 1, eventId: 'bad-1', errors: ['occurredAt: timestamp must include a zone (Z or ±hh:mm)', 'campaign: must be 1 to 128 characters long (got 0)', 'stage: must be one of SENT, OPENED, CLICKED, HELD_OUT (got "BOUNCED")'] },
        { line: 2, eventId: 'bad-2', errors: ['customerId: is required', 'campaign: must be 1 to 128 characters long (got 129)', 'channel: must not contain control characters'] },
      ],
    });
    const r = await svc.gql(`mutation($e: [TouchInput!]!) { ingestTouches(events: $e) { accepted duplicates rejectedCount rejected { line eventId errors } } }`, {
      e: [
        { eventId: 'ok-1', customerId: 'z', occurredAt: '2024-01-01T00:00:00Z', campaign: 'Z', stage: 'OPENED' },
        { eventId: 'bad-3', customerId: 'z', occurredAt: '2024-01-01T00:00:00Z', campaign: 'Z\u0000', stage: 'CLICKED' },
      ],
    });
    expect(r.data.ingestTouches).toEqual({ accepted: 0, duplicates: 1, rejectedCount: 1, rejected: [{ line: 2, eventId: 'bad-3', errors: ['campaign: must not contain control characters'] }] });
    // The stored ok-1 is the first version: SENT at 2023-12-31T22:00Z, not the OPENED retry.
    const z = await svc.gql(CAMPAIGNS, { from: '2023-12-31T22:00:00Z', to: '2023-12-31T22:00:00.001Z' });
    expect(z.data.followUpCampaigns).toEqual([{ campaign: 'Z', sent: 1, heldOut: 0, opened: 0, clicked: 0, openRate: 0, clickRate: 0 }]);
  });

  it('takes touches from a file through npm run ingest', { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kpi-touch-cli-'));
    try {
      const file = join(dir, 'touches.ndjson');
      writeFileSync(file, [T('cli', '2024-05-01T00:00:00Z', 'HELD_OUT', 'CLI'), { ...T('cli', '05-02', 'SENT', 'CLI'), campaign: 7 }].map((e) => JSON.stringify(e)).join('\n'));
      const run = await runTsx('scripts/ingest.ts', [file, '--url', svc.url]);
      expect(run.stdout).toMatch(/accepted 1, duplicates 0, rejected 1/);
      const r = await svc.gql(CAMPAIGNS, { from: at('05-01'), to: at('06-01') });
      expect(r.data.followUpCampaigns).toEqual([{ campaign: 'CLI', sent: 0, heldOut: 1, opened: 0, clicked: 0, openRate: null, clickRate: null }]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// A seeded random store (times on a day/noon grid, so assignments, purchases and window ends
// tie often), answered by the service and by a plain TypeScript reading of spec sections 12 and
// 15 written here without the service's code.
type RTouch = { customerId: string; at: number; campaign: string; stage: string };
type RPurchase = { eventId: string; customerId: string; at: number; cents: number; currency: string; orderId?: string };
type RRefund = { eventId: string; customerId: string; orderId: string; at: number; cents: number; currency: string };

function randomStore(seed: number) {
  let s = seed;
  const rnd = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const pick = <X>(xs: readonly X[]) => xs[Math.floor(rnd() * xs.length)]!;
  const day = (d: number) => Date.UTC(2024, 0, 1) + d * 86_400_000 + (rnd() < 0.3 ? 43_200_000 : 0);
  const touches: RTouch[] = [];
  const purchases: RPurchase[] = [];
  const refunds: RRefund[] = [];
  for (let c = 0; c < 40; c++) {
    const customerId = `r${c}`;
    for (const campaign of ['A', 'B', 'C']) {
      if (rnd() < 0.3) continue;
      const first = Math.floor(rnd() * 80);
      for (let k = 0, m = 1 + Math.floor(rnd() * 3); k < m; k++) touches.push({ customerId, campaign, at: day(first + Math.floor(rnd() * 4)), stage: pick(['SENT', 'HELD_OUT']) });
      for (let k = 0, m = Math.floor(rnd() * 4); k < m; k++) touches.push({ customerId, campaign, at: day(first - 2 + Math.floor(rnd() * 10)), stage: pick(['OPENED', 'CLICKED']) });
    }
    // Some purchases fall exactly on an assigning touch, or on its window's end (7 or 30 days on).
    const assigned = touches.filter((t) => t.customerId === customerId && (t.stage === 'SENT' || t.stage === 'HELD_OUT')).map((t) => t.at);
    const when = () => (assigned.length > 0 && rnd() < 0.4 ? pick(assigned) + pick([0, 0, 7, 30]) * 86_400_000 : day(Math.floor(rnd() * 100)));
    for (let k = 0, m = Math.floor(rnd() * 6); k < m; k++) {
      const p: RPurchase = { eventId: `${customerId}-p${k}`, customerId, at: when(), cents: 100 + Math.floor(rnd() * 10_000), currency: rnd() < 0.8 ? 'USD' : 'EUR' };
      // Two purchases may share an orderId: a refund then belongs to the earlier.
      if (rnd() < 0.5) p.orderId = `${customerId}-o${Math.floor(rnd() * 3)}`;
      purchases.push(p);
      if (rnd() < 0.4) {
        const key = p.orderId ?? p.eventId;
        for (let j = 0, n = 1 + Math.floor(rnd() * 2); j < n; j++) {
          const cents = rnd() < 0.4 ? p.cents : 1 + Math.floor(rnd() * p.cents * 0.6);
          refunds.push({ eventId: `${p.eventId}-r${j}`, customerId, orderId: key, at: p.at + Math.floor(rnd() * 30) * 86_400_000, cents, currency: rnd() < 0.9 ? p.currency : 'USD' });
        }
      }
    }
  }
  return { touches, purchases, refunds };
}

const iso = (t: number) => new Date(t).toISOString();
const DAY = 86_400_000;

/** Spec section 12: the purchases that are orders as of asOf, and the refunds that subtract from revenue. */
function ledger(store: ReturnType<typeof randomStore>, asOf: number) {
  const purchases = store.purchases.filter((p) => p.at <= asOf);
  const refunded = new Map<RPurchase, RRefund[]>();
  for (const r of store.refunds.filter((r) => r.at <= asOf)) {
    const owners = purchases
      .filter((p) => p.customerId === r.customerId && p.currency === r.currency && (p.orderId ?? p.eventId) === r.orderId)
      .sort((a, b) => a.at - b.at || (a.eventId < b.eventId ? -1 : 1));
    if (owners[0]) refunded.set(owners[0], [...(refunded.get(owners[0]) ?? []), r]);
  }
  const cancelled = (p: RPurchase) => (refunded.get(p) ?? []).reduce((sum, r) => sum + r.cents, 0) >= p.cents;
  const orders = purchases.filter((p) => !cancelled(p));
  return { orders, refunds: orders.flatMap((p) => refunded.get(p) ?? []) };
}

function referenceImpact(store: ReturnType<typeof randomStore>, campaign: string, from: number, to: number, windowDays: number, currency: string, asOf: number) {
  const { orders, refunds } = ledger(store, asOf);
  const mine = store.touches.filter((t) => t.campaign === campaign && t.at <= asOf);
  const groups = { treated: [0, 0, 0, 0, 0, 0], control: [0, 0, 0, 0, 0, 0] }; // customers opened clicked converted orders cents
  let pending = 0;
  for (const customerId of new Set(mine.map((t) => t.customerId))) {
    const own = mine.filter((t) => t.customerId === customerId);
    const assigning = own.filter((t) => t.stage === 'SENT' || t.stage === 'HELD_OUT').sort((a, b) => a.at - b.at || (a.stage === 'SENT' ? -1 : 1) - (b.stage === 'SENT' ? -1 : 1))[0];
    if (!assigning || assigning.at < from || assigning.at >= to) continue;
    const t0 = assigning.at;
    const end = t0 + windowDays * DAY;
    if (end > asOf) {
      pending++;
      continue;
    }
    const g = groups[assigning.stage === 'SENT' ? 'treated' : 'control'];
    const inWindow = (at: number) => at > t0 && at <= end;
    const n = orders.filter((o) => o.customerId === customerId && inWindow(o.at)).length;
    g[0]! += 1;
    g[1]! += own.some((t) => t.stage === 'OPENED' && t.at >= t0) ? 1 : 0;
    g[2]! += own.some((t) => t.stage === 'CLICKED' && t.at >= t0) ? 1 : 0;
    g[3]! += n > 0 ? 1 : 0;
    g[4]! += n;
    g[5]! += orders.filter((o) => o.customerId === customerId && o.currency === currency && inWindow(o.at)).reduce((sum, o) => sum + o.cents, 0);
    g[5]! -= refunds.filter((r) => r.customerId === customerId && r.currency === currency && inWindow(r.at)).reduce((sum, r) => sum + r.cents, 0);
  }
  const asGroup = (g: number[]) => group(g[0]!, g[1]!, g[2]!, g[3]!, g[4]!, g[5]! / 100);
  return impact(campaign, pending, asGroup(groups.treated), asGroup(groups.control));
}

function referenceCampaigns(store: ReturnType<typeof randomStore>, from: number, to: number, asOf: number) {
  const campaigns = [...new Set(store.touches.map((t) => t.campaign))].sort();
  return campaigns.flatMap((campaign) => {
    const r = { campaign, sent: 0, heldOut: 0, opened: 0, clicked: 0 };
    for (const customerId of new Set(store.touches.filter((t) => t.campaign === campaign).map((t) => t.customerId))) {
      const own = store.touches.filter((t) => t.campaign === campaign && t.customerId === customerId && t.at <= asOf);
      const assigning = own.filter((t) => t.stage === 'SENT' || t.stage === 'HELD_OUT').sort((a, b) => a.at - b.at || (a.stage === 'SENT' ? -1 : 1) - (b.stage === 'SENT' ? -1 : 1))[0];
      if (!assigning || assigning.at < from || assigning.at >= to) continue;
      if (assigning.stage === 'HELD_OUT') r.heldOut++;
      else {
        r.sent++;
        r.opened += own.some((t) => t.stage === 'OPENED' && t.at >= assigning.at) ? 1 : 0;
        r.clicked += own.some((t) => t.stage === 'CLICKED' && t.at >= assigning.at) ? 1 : 0;
      }
    }
    if (r.sent + r.heldOut === 0) return [];
    return [{ ...r, openRate: r.sent === 0 ? null : r.opened / r.sent, clickRate: r.sent === 0 ? null : r.clicked / r.sent }];
  });
}

describe('followUpImpact against an independent computation', { timeout: 120_000 }, () => {
  let rsvc: TestService;
  const store = randomStore(20241205);
  beforeAll(async () => {
    rsvc = await startTestService('t_follow_up_random');
    let k = 0;
    const events = [
      ...store.touches.map((t) => ({ type: 'touch', eventId: `rt-${++k}`, customerId: t.customerId, occurredAt: iso(t.at), campaign: t.campaign, stage: t.stage })),
      ...store.purchases.map((p) => ({ type: 'purchase', eventId: p.eventId, customerId: p.customerId, occurredAt: iso(p.at), amount: (p.cents / 100).toFixed(2), currency: p.currency, ...(p.orderId ? { orderId: p.orderId } : {}) })),
      ...store.refunds.map((r) => ({ type: 'refund', eventId: r.eventId, customerId: r.customerId, orderId: r.orderId, occurredAt: iso(r.at), amount: (r.cents / 100).toFixed(2), currency: r.currency })),
    ];
    const res = await fetch(`${rsvc.url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body: events.map((e) => JSON.stringify(e)).join('\n') });
    expect(await res.json()).toMatchObject({ accepted: events.length, rejectedCount: 0 });
  });
  afterAll(async () => {
    await rsvc?.stop();
  });

  it('answers as the spec read in plain TypeScript, for every campaign, window, currency and asOf', async () => {
    let compared = 0;
    for (const asOf of [Date.UTC(2024, 2, 1), Date.UTC(2024, 3, 15, 12)]) {
      for (const [from, to] of [[Date.UTC(2024, 0, 1), Date.UTC(2024, 1, 15)], [Date.UTC(2024, 0, 20), Date.UTC(2024, 3, 1)]] as const) {
        for (const campaign of ['A', 'B', 'C']) {
          for (const [windowDays, currency] of [[7, 'USD'], [30, 'EUR']] as const) {
            const want = referenceImpact(store, campaign, from, to, windowDays, currency, asOf);
            const r = await rsvc.gql(IMPACT, { campaign, from: iso(from), to: iso(to), windowDays, currency, asOf: iso(asOf) });
            expect(r.errors).toBeUndefined();
            expect({ campaign, from, to, windowDays, asOf, got: close(r.data.followUpImpact) }).toEqual({ campaign, from, to, windowDays, asOf, got: close(want) });
            compared++;
          }
        }
        const r = await rsvc.gql(CAMPAIGNS, { from: iso(from), to: iso(to), asOf: iso(asOf) });
        expect(close(r.data.followUpCampaigns)).toEqual(close(referenceCampaigns(store, from, to, asOf)));
      }
    }
    expect(compared).toBe(24);
  });

  it('reads the same figures from the raw refunds as from the refund_orders state', async () => {
    for (const asOf of [new Date('2024-03-01T00:00:00Z'), new Date('2024-02-10T12:00:00Z')]) {
      const a = { campaign: 'A', from: new Date('2024-01-01T00:00:00Z'), to: new Date('2024-03-01T00:00:00Z'), windowDays: 14, currency: 'USD', asOf };
      const rows = (source: 'raw' | 'auto') => rsvc.exec.rows(followUpImpactSql(a, source), { requestId: 'follow-up-test' });
      expect(await rows('auto')).toEqual(await rows('raw'));
    }
  });
});
