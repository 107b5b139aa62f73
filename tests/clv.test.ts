import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertPurchases } from './helpers/events.js';
import { startTestService, type TestService } from './helpers/service.js';

// Fixture (UTC), 2024:
//   x: Jan 05 USD 10.1234, Feb 10 USD 20, Feb 11 EUR 50
//   y: Jan 20 EUR 30 (first purchase, in EUR), Mar 02 USD 5.5
//   z: Feb 01 USD 100
// 2023, for active customer periods by grain and zone (no other customer buys from Dec 2022 on):
//   a: Mar 06 10:00 USD 10, Mar 08 10:00 USD 20, Mar 31 23:30 USD 30 (April 1 in Berlin)
//   b: Mar 13 12:00 USD 5, Apr 30 22:00 USD 15 (May 1 in Berlin)
//   c: Feb 20 10:00 USD 50, Apr 10 10:00 EUR 25, Apr 12 10:00 USD 35
// 2022, stationary: every month from January to September two new customers start, each buys
// USD 10 on the 3rd and USD 30 on the 17th of their first three months, then never again.
const AS_OF = '2024-04-01T00:00:00.000Z';

function stationaryStore(): [string, string, string][] {
  const rows: [string, string, string][] = [];
  for (let cohort = 0; cohort < 9; cohort++) {
    for (const n of [1, 2]) {
      for (let k = 0; k < 3; k++) {
        const month = String(cohort + k + 1).padStart(2, '0');
        rows.push([`s${cohort}-${n}`, `2022-${month}-03T12:00:00Z`, '10'], [`s${cohort}-${n}`, `2022-${month}-17T12:00:00Z`, '30']);
      }
    }
  }
  return rows;
}

describe('customerLifetimeValue', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService('t_clv');
    await insertPurchases(svc.exec, [
      ['x', '2024-01-05T10:00:00Z', '10.1234', 'USD'], ['x', '2024-02-10T10:00:00Z', '20', 'USD'], ['x', '2024-02-11T10:00:00Z', '50', 'EUR'],
      ['y', '2024-01-20T10:00:00Z', '30', 'EUR'], ['y', '2024-03-02T10:00:00Z', '5.5', 'USD'],
      ['z', '2024-02-01T10:00:00Z', '100', 'USD'],
      ['a', '2023-03-06T10:00:00Z', '10', 'USD'], ['a', '2023-03-08T10:00:00Z', '20', 'USD'], ['a', '2023-03-31T23:30:00Z', '30', 'USD'],
      ['b', '2023-03-13T12:00:00Z', '5', 'USD'], ['b', '2023-04-30T22:00:00Z', '15', 'USD'],
      ['c', '2023-02-20T10:00:00Z', '50', 'USD'], ['c', '2023-04-10T10:00:00Z', '25', 'EUR'], ['c', '2023-04-12T10:00:00Z', '35', 'USD'],
      ...stationaryStore(),
    ]);
  });
  afterAll(async () => {
    await svc?.stop();
  });

  const q = (args: string) => `{ customerLifetimeValue(from: "2024-01-01T00:00:00Z", to: "2024-04-01T00:00:00Z", asOf: "${AS_OF}", ${args}) {
    currency margin revenue orders customers averageOrderValue activeCustomerPeriods purchaseFrequency churnRate expectedLifetimePeriods clv
    cohorts { cohortStart size cells { offset periodStart revenue cumulativeRevenuePerCustomer complete } } } }`;

  it('builds cohort revenue curves and the window summary in one currency', async () => {
    const r = await svc.gql(q('periods: 2, margin: 0.5'));
    expect(r.errors).toBeUndefined();
    const v = r.data.customerLifetimeValue;
    // Jan cohort {x, y}: USD per month 10.1234, 20, 5.5; Feb cohort {z}: 100, 0, 0 (April holds asOf).
    expect(v.cohorts).toEqual([
      {
        cohortStart: '2024-01-01T00:00:00.000Z',
        size: 2,
        cells: [
          { offset: 0, periodStart: '2024-01-01T00:00:00.000Z', revenue: 10.1234, cumulativeRevenuePerCustomer: 5.0617, complete: true },
          { offset: 1, periodStart: '2024-02-01T00:00:00.000Z', revenue: 20, cumulativeRevenuePerCustomer: 15.0617, complete: true },
          { offset: 2, periodStart: '2024-03-01T00:00:00.000Z', revenue: 5.5, cumulativeRevenuePerCustomer: 17.8117, complete: true },
        ],
      },
      {
        cohortStart: '2024-02-01T00:00:00.000Z',
        size: 1,
        cells: [
          { offset: 0, periodStart: '2024-02-01T00:00:00.000Z', revenue: 100, cumulativeRevenuePerCustomer: 100, complete: true },
          { offset: 1, periodStart: '2024-03-01T00:00:00.000Z', revenue: 0, cumulativeRevenuePerCustomer: 100, complete: true },
          { offset: 2, periodStart: '2024-04-01T00:00:00.000Z', revenue: 0, cumulativeRevenuePerCustomer: 100, complete: false },
        ],
      },
    ]);
    // USD in the window: 10.1234 + 20 + 5.5 + 100 = 135.6234 over 4 orders by 3 customers, in 4
    // (customer, month) pairs: x Jan, x Feb, y Mar, z Feb. Frequency 4 / 4 = 1 order per active customer-month.
    // Pooled monthly retention: Feb 1 of {x, y}, Mar 0 of {x, z} → 1/4, churn 0.75, lifetime 4/3 months.
    expect(v).toMatchObject({ currency: 'USD', margin: 0.5, revenue: 135.6234, orders: 4, customers: 3, activeCustomerPeriods: 4, purchaseFrequency: 1, churnRate: 0.75 });
    expect(v.averageOrderValue).toBeCloseTo(33.90585, 12);
    expect(v.expectedLifetimePeriods).toBeCloseTo(4 / 3, 12);
    // 33.90585 × 1 × 0.5 × 4/3 = 22.6039
    expect(v.clv).toBeCloseTo(22.6039, 10);
  });

  it('keeps each currency apart', async () => {
    const r = await svc.gql(q('periods: 0, currency: "EUR"'));
    const v = r.data.customerLifetimeValue;
    // x Feb and y Jan: two (customer, month) pairs.
    expect(v).toMatchObject({ currency: 'EUR', margin: 1, revenue: 80, orders: 2, customers: 2, averageOrderValue: 40, activeCustomerPeriods: 2, purchaseFrequency: 1 });
    expect(v.cohorts.map((c: any) => [c.size, c.cells[0].revenue])).toEqual([[2, 30], [1, 0]]);
  });

  it('answers null, not Infinity, when churn is zero', async () => {
    // Days Feb 10..12: Feb 11 keeps x from Feb 10 (rate 1), Feb 10 has no previous customers: churn 0.
    const r = await svc.gql(`{ customerLifetimeValue(grain: DAY, from: "2024-02-10T00:00:00Z", to: "2024-02-12T00:00:00Z", asOf: "${AS_OF}") {
      churnRate expectedLifetimePeriods clv averageOrderValue } }`);
    expect(r.errors).toBeUndefined();
    expect(r.data.customerLifetimeValue).toEqual({ churnRate: 0, expectedLifetimePeriods: null, clv: null, averageOrderValue: 20 });
  });

  it('counts active customer periods in the grain and time zone asked', async () => {
    const window = 'from: "2023-03-01T00:00:00Z", to: "2023-05-01T00:00:00Z", currency: "USD", periods: 0';
    const r = await svc.gql(`{
      month: customerLifetimeValue(${window}, asOf: "${AS_OF}") { ...f }
      week: customerLifetimeValue(${window}, grain: WEEK, asOf: "${AS_OF}") { ...f }
      berlin: customerLifetimeValue(${window}, timezone: "Europe/Berlin", asOf: "${AS_OF}") { ...f } }
      fragment f on ClvReport { revenue orders customers activeCustomerPeriods purchaseFrequency churnRate clv }`);
    expect(r.errors).toBeUndefined();
    const { month, week, berlin } = r.data;
    // USD in the window, whatever the grain: 10 + 20 + 30 + 5 + 15 + 35 = 115 over 6 orders by a, b, c.
    for (const v of [month, week, berlin]) expect(v).toMatchObject({ revenue: 115, orders: 6, customers: 3 });
    // UTC months: a Mar, b Mar, b Apr, c Apr → 4 pairs, frequency 6 / 4. Retention (all currencies):
    // March keeps 0 of February's {c}, April 1 (b) of March's {a, b} → 1/3, churn 2/3, lifetime 3/2.
    // CLV = 115/6 × 1.5 × 1.5 = 43.125.
    expect(month).toMatchObject({ activeCustomerPeriods: 4, purchaseFrequency: 1.5 });
    expect(month.churnRate).toBeCloseTo(2 / 3, 12);
    expect(month.clv).toBeCloseTo(43.125, 10);
    // ISO weeks: a's Mar 06 and Mar 08 share the week of Mar 06, Mar 31 is in the week of Mar 27; b's
    // Mar 13 and Apr 30 (a Sunday) are in the weeks of Mar 13 and Apr 24; c's Apr 12 in that of Apr 10:
    // 5 pairs, frequency 6 / 5. Weekly buyers: Feb 20 {c}, Mar 06 {a}, Mar 13 {b}, Mar 27 {a}, Apr 10 {c},
    // Apr 24 {b}: no week keeps a customer of the week before (0 of 4), churn 1, lifetime 1.
    // CLV = 115/6 × 1.2 × 1 = 23.
    expect(week).toMatchObject({ activeCustomerPeriods: 5, churnRate: 1 });
    expect(week.purchaseFrequency).toBeCloseTo(1.2, 12);
    expect(week.clv).toBeCloseTo(23, 10);
    // Berlin months: a's Mar 31 23:30Z is April 1 there and b's Apr 30 22:00Z May 1 (still inside the
    // window of instants): a Mar, a Apr, b Mar, b May, c Apr → 5 pairs, frequency 1.2. Periods starting in
    // the window: April (Mar 31 22:00Z) keeps 1 (a) of March's {a, b}, May (Apr 30 22:00Z) 0 of April's
    // {a, c} → 1/4, churn 3/4, lifetime 4/3. CLV = 115/6 × 1.2 × 4/3 = 30.666…
    expect(berlin).toMatchObject({ activeCustomerPeriods: 5, churnRate: 0.75 });
    expect(berlin.purchaseFrequency).toBeCloseTo(1.2, 12);
    expect(berlin.clv).toBeCloseTo(92 / 3, 10);
  });

  it('gives the same CLV for a window twice as long when behaviour is stationary', async () => {
    const r = await svc.gql(`{
      short: customerLifetimeValue(from: "2022-04-01T00:00:00Z", to: "2022-07-01T00:00:00Z", periods: 0, asOf: "${AS_OF}") { ...f }
      long: customerLifetimeValue(from: "2022-04-01T00:00:00Z", to: "2022-10-01T00:00:00Z", periods: 0, asOf: "${AS_OF}") { ...f } }
      fragment f on ClvReport { revenue orders customers activeCustomerPeriods averageOrderValue purchaseFrequency churnRate expectedLifetimePeriods clv }`);
    expect(r.errors).toBeUndefined();
    // Every month from April to September three cohorts of two are active (6 customers, 12 orders,
    // USD 240), and of the month before's 6 buyers 4 buy again: retention 2/3, lifetime 3 months.
    // AOV 20, 2 orders per active customer-month: CLV = 20 × 2 × 3 = 120 for both windows.
    // (Version 1 divided by distinct customers and months: 36 / 10 / 3 = 1.2 gave 72, 72 / 16 / 6 = 0.75 gave 45.)
    const { short, long } = r.data;
    expect(short).toMatchObject({ revenue: 720, orders: 36, customers: 10, activeCustomerPeriods: 18, averageOrderValue: 20, purchaseFrequency: 2 });
    expect(long).toMatchObject({ revenue: 1440, orders: 72, customers: 16, activeCustomerPeriods: 36, averageOrderValue: 20, purchaseFrequency: 2 });
    for (const v of [short, long]) {
      expect(v.churnRate).toBeCloseTo(1 / 3, 12);
      expect(v.expectedLifetimePeriods).toBeCloseTo(3, 12);
      expect(v.clv).toBeCloseTo(120, 10);
    }
  });

  it('gives kpiSnapshot the values of the individual KPI queries for the same window', async () => {
    const w = `from: "2024-01-01T00:00:00Z", to: "2024-04-01T00:00:00Z", asOf: "${AS_OF}"`;
    const r = await svc.gql(`{
      s: kpiSnapshot(${w}, grain: MONTH, currency: "USD") {
        customers newCustomers orders repeatPurchaseRate revenue averageOrderValue clv retentionRate nps csat referralConversionRate }
      rp: repeatPurchaseRate(${w}) { customers orders rate }
      v: customerLifetimeValue(${w}, periods: 0, currency: "USD") { revenue averageOrderValue clv }
      rr: retentionRateSummary(${w}) { pooledRate }
      n: nps(${w}) { score }
      c: csat(${w}) { score } }`);
    expect(r.errors).toBeUndefined();
    const { s, rp, v, rr, n, c } = r.data;
    expect(s).toEqual({
      customers: rp.customers,
      newCustomers: 3,
      orders: rp.orders,
      repeatPurchaseRate: rp.rate,
      revenue: v.revenue,
      averageOrderValue: v.averageOrderValue,
      clv: v.clv,
      retentionRate: rr.pooledRate,
      nps: n.score,
      csat: c.score,
      referralConversionRate: null,
    });
    // By hand: x, y, z bought 6 orders in Q1 (x 3, y 2, z 1: two repeat customers), all three first bought in it;
    // USD revenue 135.6234; pooled monthly retention 1/4; no surveys, no referrals.
    expect(s).toMatchObject({ customers: 3, orders: 6, repeatPurchaseRate: 2 / 3, revenue: 135.6234, retentionRate: 0.25, nps: null, csat: null });
    // CLV with the configured margin 1: 4 USD orders in 4 (customer, month) pairs → 33.90585 × 1 × 1 × 4/3.
    expect(s.clv).toBeCloseTo(45.2078, 10);
  });

  it('rejects a margin outside [0, 1] and a malformed currency', async () => {
    const m = await svc.gql(q('margin: 1.5'));
    expect(m.errors[0].message).toBe('"margin" must be a fraction from 0 to 1 (got 1.5)');
    const c = await svc.gql(q('currency: "usd"'));
    expect(c.errors[0].message).toBe('"currency" must be an ISO 4217 code of 3 upper-case letters (got "usd")');
  });
});
