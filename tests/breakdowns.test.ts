import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from './helpers/service.js';

// Breakdowns (spec section 13) on a store small enough to work out by hand. As of 2024-04-15:
// - a: profile DE/email/vip; orders 01-05, 02-10, 03-12 (USD); NPS 9 (promoter), CSAT 5;
// - b: profile DE/ads, no segment; orders 01-20, 03-02; NPS 3 on 01-25, then 8 on 03-05 (passive);
// - c: profile FR/email/vip (a version after asOf moves c to US); order C1 02-03 (60 USD, 10
//   refunded on 03-01), order C2 02-20 cancelled on 02-25; NPS 6 (detractor);
// - d: no profile; referred by a (signed up 01-25, first order 02-05); orders 02-05, 03-15,
//   04-02; no survey;
// - e: profile US/ads, then on 02-01 a version with the country only (no channel, no segment);
//   referred (signed up 01-01, first order 01-15); one order 01-15; NPS 10 after asOf (none as of
//   it); CSAT 2;
// - f: profile DE/email/basic; its one order is cancelled: no customer of any purchase KPI;
//   NPS 10 (promoter).
// - loyalty (LOYALTY_TIER): a joined 01-01 as Gold, c joined 02-01 as Silver, b joined 01-10 as
//   Gold and left 03-01, d joined 01-01 without a tier: as of asOf a Gold, c Silver, the others none.
const at = (day: string) => `2024-${day}T12:00:00Z`;
const P = (eventId: string, customerId: string, day: string, amount: string, orderId?: string) => ({
  type: 'purchase', eventId, customerId, occurredAt: at(day), amount, currency: 'USD', ...(orderId ? { orderId } : {}),
});
const C = (eventId: string, customerId: string, occurredAt: string, attrs: Record<string, string>) => ({ type: 'customer', eventId, customerId, occurredAt, ...attrs });
const S = (eventId: string, customerId: string, day: string, kind: 'NPS' | 'CSAT', score: number) => ({
  type: 'survey', eventId, customerId, surveyId: kind === 'NPS' ? 'nps-1' : 'csat-1', kind, score, occurredAt: at(day),
});
const STORE = [
  C('pa', 'a', at('01-01'), { country: 'DE', channel: 'email', segment: 'vip' }),
  C('pb', 'b', at('01-01'), { country: 'DE', channel: 'ads' }),
  C('pc1', 'c', at('01-01'), { country: 'FR', channel: 'email', segment: 'vip' }),
  C('pc2', 'c', at('05-01'), { country: 'US', channel: 'email', segment: 'vip' }),
  C('pe1', 'e', at('01-01'), { country: 'US', channel: 'ads' }),
  C('pe2', 'e', at('02-01'), { country: 'US' }),
  C('pf', 'f', at('01-01'), { country: 'DE', channel: 'email', segment: 'basic' }),
  P('a1', 'a', '01-05', '100'), P('a2', 'a', '02-10', '50'), P('a3', 'a', '03-12', '30'),
  P('b1', 'b', '01-20', '40'), P('b2', 'b', '03-02', '20'),
  P('c1', 'c', '02-03', '60', 'C1'), P('c2', 'c', '02-20', '25', 'C2'),
  P('d1', 'd', '02-05', '20'), P('d2', 'd', '03-15', '20'), P('d3', 'd', '04-02', '10'),
  P('e1', 'e', '01-15', '70'),
  P('f1', 'f', '03-20', '15', 'F1'),
  { type: 'refund', eventId: 'rc1', customerId: 'c', orderId: 'C1', occurredAt: at('03-01'), amount: '10', currency: 'USD' },
  { type: 'refund', eventId: 'rc2', customerId: 'c', orderId: 'C2', occurredAt: at('02-25'), amount: '25', currency: 'USD' },
  { type: 'refund', eventId: 'rf1', customerId: 'f', orderId: 'F1', occurredAt: at('03-22'), amount: '15', currency: 'USD' },
  { type: 'referral', eventId: 'ref-d', referralId: 'rd', stage: 'SIGNED_UP', referrerId: 'a', referredCustomerId: 'd', occurredAt: at('01-25') },
  { type: 'referral', eventId: 'ref-e', referralId: 're', stage: 'SIGNED_UP', referrerId: 'a', referredCustomerId: 'e', occurredAt: at('01-01') },
  S('na', 'a', '02-01', 'NPS', 9), S('nb1', 'b', '01-25', 'NPS', 3), S('nb2', 'b', '03-05', 'NPS', 8), S('nc', 'c', '03-10', 'NPS', 6),
  S('ne', 'e', '04-20', 'NPS', 10), S('nf', 'f', '02-15', 'NPS', 10),
  S('sa', 'a', '02-02', 'CSAT', 5), S('se', 'e', '03-01', 'CSAT', 2),
  { type: 'loyalty', eventId: 'la', customerId: 'a', occurredAt: at('01-01'), action: 'JOINED', tier: 'Gold' },
  { type: 'loyalty', eventId: 'lc', customerId: 'c', occurredAt: at('02-01'), action: 'JOINED', tier: 'Silver' },
  { type: 'loyalty', eventId: 'lb1', customerId: 'b', occurredAt: at('01-10'), action: 'JOINED', tier: 'Gold' },
  { type: 'loyalty', eventId: 'lb2', customerId: 'b', occurredAt: at('03-01'), action: 'LEFT' },
  { type: 'loyalty', eventId: 'ld', customerId: 'd', occurredAt: at('01-01'), action: 'JOINED' },
];
const AS_OF = '2024-04-15T00:00:00Z';

/**
 * Each KPI: its arguments (beyond filter, asOf, timezone) and the selection of its whole
 * result. The windows are on UTC month starts, so the KPIs read the pre-aggregated state; in
 * Europe/Berlin (repeatPurchaseRate, without a zone: a window off month starts) they read the
 * raw purchases.
 */
const KPIS = {
  retentionCohorts: {
    args: 'grain: MONTH, from: "2024-01-01T00:00:00Z", to: "2024-05-01T00:00:00Z", periods: 3',
    selection: `grain cohorts { cohortStart size cells { offset periodStart retained rate rateLow rateHigh retainedOrLater rateOrLater complete } }
      average { offset cohorts size retained rate rateLow rateHigh retainedOrLater rateOrLater }`,
  },
  retentionRate: {
    args: 'grain: MONTH, from: "2024-02-01T00:00:00Z", to: "2024-05-01T00:00:00Z"',
    selection: 'periodStart previousCustomers retainedCustomers rate churnRate',
  },
  repeatPurchaseRate: {
    args: 'from: "2024-01-01T00:00:00Z", to: "2024-04-01T00:00:00Z"',
    rawArgs: 'from: "2024-01-01T00:00:00Z", to: "2024-03-31T00:00:00Z"',
    selection: 'customers repeatCustomers orders rate rateLow rateHigh averageOrdersPerCustomer',
  },
  customerLifetimeValue: {
    args: 'grain: MONTH, from: "2024-01-01T00:00:00Z", to: "2024-05-01T00:00:00Z", periods: 3, currency: "USD"',
    selection: `currency margin revenue orders customers averageOrderValue activeCustomerPeriods purchaseFrequency churnRate expectedLifetimePeriods clv
      cohorts { cohortStart size cells { offset periodStart revenue cumulativeRevenuePerCustomer complete } }`,
  },
  nps: {
    args: 'grain: MONTH, from: "2024-01-01T00:00:00Z", to: "2024-05-01T00:00:00Z"',
    selection: 'responses promoters passives detractors score marginOfError series { periodStart responses promoters passives detractors score }',
  },
  csat: {
    args: 'grain: MONTH, from: "2024-01-01T00:00:00Z", to: "2024-05-01T00:00:00Z"',
    selection: 'responses satisfied score series { periodStart responses satisfied score }',
  },
} as const;
type Kpi = keyof typeof KPIS;
const BREAKDOWNS = ['COUNTRY', 'CHANNEL', 'SEGMENT', 'REFERRED', 'NPS_GROUP', 'LOYALTY_TIER'] as const;
type By = (typeof BREAKDOWNS)[number];

/** The filter that selects exactly the customers of group `key` (never null: no filter selects those without a value). */
function narrowed(by: By, key: string): Record<string, unknown> {
  switch (by) {
    case 'COUNTRY':
      return { country: [key] };
    case 'CHANNEL':
      return { channel: [key] };
    case 'SEGMENT':
      return { segment: [key] };
    case 'REFERRED':
      return { referred: key === 'referred' };
    case 'NPS_GROUP':
      return { npsGroup: [key.toUpperCase()] };
    case 'LOYALTY_TIER':
      return { loyaltyTier: [key] };
  }
}

describe('breakdowns (spec section 13)', () => {
  let svc: TestService;
  const post = async (events: object[]) => {
    const res = await fetch(`${svc.url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body: events.map((e) => JSON.stringify(e)).join('\n') });
    return res.json();
  };
  const query = async (document: string, variables: Record<string, unknown>) => {
    const r = await svc.gql(document, variables);
    expect(r.errors).toBeUndefined();
    return r.data;
  };
  /** `<kpi>By(by)`: its groups; `timezone` Europe/Berlin sends the KPIs down their raw paths. */
  /** A KPI's arguments for `timezone` (null: UTC), with `filter` and `asOf` as variables. */
  const args = (kpi: Kpi, timezone: string | null) => {
    const k: { args: string; rawArgs?: string } = KPIS[kpi];
    if (k.rawArgs) return `${timezone ? k.rawArgs : k.args}, asOf: $asOf, filter: $filter`;
    return `${k.args}, asOf: $asOf, filter: $filter, timezone: $tz`;
  };
  const declared = (kpi: Kpi) => `$filter: CustomerFilter, $asOf: DateTime${'rawArgs' in KPIS[kpi] ? '' : ', $tz: String'}`;
  const variables = (filter: object | null, timezone: string | null) => ({ filter, asOf: AS_OF, tz: timezone });
  const groups = async (kpi: Kpi, by: By, timezone: string | null = null, filter: object | null = null) => {
    const data = await query(
      `query(${declared(kpi)}) { g: ${kpi}By(by: ${by}, ${args(kpi, timezone)}) { key value { ${KPIS[kpi].selection} } } }`,
      variables(filter, timezone),
    );
    return data.g as { key: string | null; value: any }[];
  };
  const whole = async (kpi: Kpi, filter: object | null, timezone: string | null = null) => {
    const data = await query(
      `query(${declared(kpi)}) { v: ${kpi}(${args(kpi, timezone)}) { ${KPIS[kpi].selection} } }`,
      variables(filter, timezone),
    );
    return data.v;
  };

  beforeAll(async () => {
    svc = await startTestService('t_breakdowns');
    expect(await post(STORE)).toMatchObject({ accepted: STORE.length, rejectedCount: 0 });
  });
  afterAll(async () => {
    await svc?.stop();
  });

  it('splits repeat purchase by every breakdown, keys in order, null last, groups without customers left out', async () => {
    const rp = async (by: By) => (await groups('repeatPurchaseRate', by)).map((g) => [g.key, g.value.customers, g.value.repeatCustomers, g.value.orders]);
    // Window January to March: a 3 orders, b 2, c 1 (C2 cancelled), d 2 (d3 is in April), e 1; f none.
    expect(await rp('COUNTRY')).toEqual([['DE', 2, 2, 5], ['FR', 1, 0, 1], ['US', 1, 0, 1], [null, 1, 1, 2]]);
    // e's latest profile (02-01) has no channel: e joins d, who has no profile.
    expect(await rp('CHANNEL')).toEqual([['ads', 1, 1, 2], ['email', 2, 1, 4], [null, 2, 1, 3]]);
    // "basic" is f's alone, and f has no order: no group.
    expect(await rp('SEGMENT')).toEqual([['vip', 2, 1, 4], [null, 3, 2, 5]]);
    expect(await rp('REFERRED')).toEqual([['organic', 3, 2, 6], ['referred', 2, 1, 3]]);
    // b's latest response (8) makes b passive; e's only response is after asOf.
    expect(await rp('NPS_GROUP')).toEqual([['detractor', 1, 0, 1], ['passive', 1, 1, 2], ['promoter', 1, 1, 3], [null, 2, 1, 3]]);
    // Gold a (3 orders), Silver c (C1; C2 is cancelled), the rest b (left), d (no tier), e: 2 + 2 + 1 orders.
    expect(await rp('LOYALTY_TIER')).toEqual([['Gold', 1, 1, 3], ['Silver', 1, 0, 1], [null, 3, 2, 5]]);
  });

  it('puts every response in its customer\'s group, whatever the response\'s own band', async () => {
    const nps = (await groups('nps', 'NPS_GROUP')).map((g) => [g.key, g.value.responses, g.value.promoters, g.value.passives, g.value.detractors, g.value.score]);
    // b answered 3 then 8: both responses are in the passive group. No group for d and e: no response as of asOf.
    expect(nps).toEqual([['detractor', 1, 0, 0, 1, -100], ['passive', 2, 0, 1, 1, -50], ['promoter', 2, 2, 0, 0, 100]]);
  });

  it('splits retention cohorts by referral', async () => {
    const cohorts = (await groups('retentionCohorts', 'REFERRED')).map((g) => [
      g.key,
      g.value.cohorts.map((c: any) => [c.cohortStart.slice(0, 7), c.size, c.cells.map((x: any) => x.retained)]),
    ]);
    // Organic: January {a, b}: a in February, both in March, nobody in April; February {c}: C1's refund is no activity.
    // Referred: January {e}; February {d}, active in March and April. May starts after asOf: no cell.
    expect(cohorts).toEqual([
      ['organic', [['2024-01', 2, [2, 1, 2, 0]], ['2024-02', 1, [1, 0, 0]]]],
      ['referred', [['2024-01', 1, [1, 0, 0, 0]], ['2024-02', 1, [1, 1, 1]]]],
    ]);
  });

  for (const timezone of [null, 'Europe/Berlin']) {
    for (const kpi of Object.keys(KPIS) as Kpi[]) {
      it(`gives each ${kpi} group the value of ${kpi} filtered to it (${timezone ?? 'UTC'})`, async () => {
        for (const by of BREAKDOWNS) {
          const split = await groups(kpi, by, timezone);
          expect(split.length, `${kpi} by ${by}`).toBeGreaterThan(0);
          for (const g of split) {
            if (g.key === null) continue;
            expect(g.value, `${kpi} by ${by}, group ${g.key}`).toEqual(await whole(kpi, narrowed(by, g.key), timezone));
          }
        }
      });
    }
  }

  it('keeps the key and cohorts of a CLV group without an order in the currency (raw path, weekly)', async () => {
    // No order is in GBP: every group has cohort curves and no window summary. The two sides used
    // to meet in a FULL JOIN where REFERRED's missing key became '' (an acceptance audit).
    const clvArgs = 'grain: WEEK, from: "2024-01-01T00:00:00Z", to: "2024-04-01T00:00:00Z", periods: 2, currency: "GBP", asOf: $asOf';
    const selection = 'revenue orders customers cohorts { cohortStart size cells { offset revenue } }';
    for (const by of ['REFERRED', 'COUNTRY'] as const) {
      const split = (await query(`query($asOf: DateTime) { g: customerLifetimeValueBy(by: ${by}, ${clvArgs}) { key value { ${selection} } } }`, { asOf: AS_OF })).g as { key: string | null; value: any }[];
      expect(split.map((g) => g.key)).toEqual(by === 'REFERRED' ? ['organic', 'referred'] : ['DE', 'FR', 'US', null]);
      for (const g of split) {
        expect(g.value.customers).toBe(0);
        expect(g.value.cohorts.length).toBeGreaterThan(0);
        if (g.key === null) continue;
        const filtered = await query(`query($asOf: DateTime, $filter: CustomerFilter) { v: customerLifetimeValue(${clvArgs}, filter: $filter) { ${selection} } }`, { asOf: AS_OF, filter: narrowed(by, g.key) });
        expect(g.value, `${by} ${g.key}`).toEqual(filtered.v);
      }
    }
  });

  it('gives the null group exactly the customers without a value', async () => {
    // Null groups by hand: CHANNEL's is {d, e}. Their CLV over January to April in USD: d 20 + 20 + 10, e 70,
    // 4 orders, active customer-months d 3 (Feb, Mar, Apr) + e 1; cohorts January {e}, February {d}.
    const clv = (await groups('customerLifetimeValue', 'CHANNEL')).find((g) => g.key === null)!.value;
    expect(clv).toMatchObject({ revenue: 120, orders: 4, customers: 2, averageOrderValue: 30, activeCustomerPeriods: 4, purchaseFrequency: 1 });
    expect(clv.cohorts.map((c: any) => [c.cohortStart.slice(0, 7), c.size, c.cells.map((x: any) => x.revenue)])).toEqual([
      ['2024-01', 1, [70, 0, 0, 0]],
      ['2024-02', 1, [20, 20, 10]],
    ]);
    // Period retention of {d, e} from February: January's e gone in February; d's February kept in March, March's in April.
    const rate = (await groups('retentionRate', 'CHANNEL')).find((g) => g.key === null)!.value;
    expect(rate.map((p: any) => [p.periodStart.slice(0, 7), p.previousCustomers, p.retainedCustomers])).toEqual([
      ['2024-02', 1, 0], ['2024-03', 1, 1], ['2024-04', 1, 1],
    ]);
    // CSAT by NPS group: e (no response as of asOf) answered 2: the null group; a (promoter) answered 5.
    expect((await groups('csat', 'NPS_GROUP')).map((g) => [g.key, g.value.responses, g.value.satisfied])).toEqual([['promoter', 1, 1], [null, 1, 0]]);
  });

  it('narrows an existing filter: a group is the filter and the group together', async () => {
    expect((await groups('repeatPurchaseRate', 'CHANNEL', null, { country: ['DE'] })).map((g) => [g.key, g.value.customers])).toEqual([['ads', 1], ['email', 1]]);
  });

  it('filters on the latest NPS response as of asOf', async () => {
    expect(await whole('repeatPurchaseRate', { npsGroup: ['PROMOTER', 'DETRACTOR'] })).toMatchObject({ customers: 2, repeatCustomers: 1, orders: 4 });
    const r = await svc.gql('{ repeatPurchaseRate(from: "2024-01-01T00:00:00Z", to: "2024-04-01T00:00:00Z", filter: { npsGroup: [] }) { customers } }');
    expect(r.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT' } });
    expect(r.errors[0].message).toContain('filter.npsGroup');
  });

  it('takes the response received later when two share occurredAt', async () => {
    // A customer of 2031 (after every other asOf here): 10 then 0 at the same instant, sent in that order.
    const tie = (eventId: string, score: number) => ({ type: 'survey', eventId, customerId: 'tie', surveyId: 'nps-9', kind: 'NPS', score, occurredAt: '2031-03-01T00:00:00Z' });
    expect(await post([{ type: 'purchase', eventId: 'tie-p', customerId: 'tie', occurredAt: '2031-02-01T00:00:00Z', amount: '1', currency: 'USD' }, tie('tie-1', 10)])).toMatchObject({ accepted: 2 });
    expect(await post([tie('tie-0', 0)])).toMatchObject({ accepted: 1 });
    const data = await query('{ g: repeatPurchaseRateBy(by: NPS_GROUP, from: "2031-01-01T00:00:00Z", to: "2032-01-01T00:00:00Z", asOf: "2031-06-01T00:00:00Z") { key value { customers } } }', {});
    expect(data.g).toEqual([{ key: 'detractor', value: { customers: 1 } }]);
  });

  it('refuses more than 300 groups: filter first', async () => {
    // 301 customers of 2030, each with a channel of their own.
    const many = Array.from({ length: 301 }, (_, i) => [
      C(`many-p${i}`, `many-${i}`, '2030-01-01T00:00:00Z', { channel: `ch-${i}` }),
      { type: 'purchase', eventId: `many-o${i}`, customerId: `many-${i}`, occurredAt: '2030-02-01T00:00:00Z', amount: '1', currency: 'USD' },
    ]).flat();
    expect(await post(many)).toMatchObject({ accepted: many.length });
    const doc = (filter: string) => `{ repeatPurchaseRateBy(by: CHANNEL, from: "2030-01-01T00:00:00Z", to: "2031-01-01T00:00:00Z", asOf: "2030-06-01T00:00:00Z"${filter}) { key } }`;
    const r = await svc.gql(doc(''));
    expect(r.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT' } });
    expect(r.errors[0].message).toContain('filter first');
    expect((await query(doc(', filter: { channel: ["ch-7", "ch-10"] }'), {})).repeatPurchaseRateBy).toEqual([{ key: 'ch-10' }, { key: 'ch-7' }]);
  });
});
