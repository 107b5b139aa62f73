import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertPurchases } from './helpers/events.js';
import { startTestService, type TestService } from './helpers/service.js';

// Fixture (UTC):
//   x: Jan 05 USD 10.1234, Feb 10 USD 20, Feb 11 EUR 50
//   y: Jan 20 EUR 30 (first purchase, in EUR), Mar 02 USD 5.5
//   z: Feb 01 USD 100
const AS_OF = '2024-04-01T00:00:00.000Z';

describe('customerLifetimeValue', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService('t_clv');
    await insertPurchases(svc.exec, [
      ['x', '2024-01-05T10:00:00Z', '10.1234', 'USD'], ['x', '2024-02-10T10:00:00Z', '20', 'USD'], ['x', '2024-02-11T10:00:00Z', '50', 'EUR'],
      ['y', '2024-01-20T10:00:00Z', '30', 'EUR'], ['y', '2024-03-02T10:00:00Z', '5.5', 'USD'],
      ['z', '2024-02-01T10:00:00Z', '100', 'USD'],
    ]);
  });
  afterAll(async () => {
    await svc?.stop();
  });

  const q = (args: string) => `{ customerLifetimeValue(from: "2024-01-01T00:00:00Z", to: "2024-04-01T00:00:00Z", asOf: "${AS_OF}", ${args}) {
    currency margin revenue orders customers averageOrderValue purchaseFrequency churnRate expectedLifetimePeriods clv
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
    // USD in the window: 10.1234 + 20 + 5.5 + 100 = 135.6234 over 4 orders by 3 customers in 3 months.
    // Pooled monthly retention: Feb 1 of {x, y}, Mar 0 of {x, z} → 1/4, churn 0.75, lifetime 4/3 months.
    expect(v).toMatchObject({ currency: 'USD', margin: 0.5, revenue: 135.6234, orders: 4, customers: 3, churnRate: 0.75 });
    expect(v.averageOrderValue).toBeCloseTo(33.90585, 12);
    expect(v.purchaseFrequency).toBeCloseTo(4 / 9, 12);
    expect(v.expectedLifetimePeriods).toBeCloseTo(4 / 3, 12);
    // 33.90585 × 4/9 × 0.5 × 4/3 = 10.0461777…
    expect(v.clv).toBeCloseTo(10.046177777777778, 10);
  });

  it('keeps each currency apart', async () => {
    const r = await svc.gql(q('periods: 0, currency: "EUR"'));
    const v = r.data.customerLifetimeValue;
    expect(v).toMatchObject({ currency: 'EUR', margin: 1, revenue: 80, orders: 2, customers: 2, averageOrderValue: 40 });
    expect(v.cohorts.map((c: any) => [c.size, c.cells[0].revenue])).toEqual([[2, 30], [1, 0]]);
  });

  it('answers null, not Infinity, when churn is zero', async () => {
    // Days Feb 10..12: Feb 11 keeps x from Feb 10 (rate 1), Feb 10 has no previous customers: churn 0.
    const r = await svc.gql(`{ customerLifetimeValue(grain: DAY, from: "2024-02-10T00:00:00Z", to: "2024-02-12T00:00:00Z", asOf: "${AS_OF}") {
      churnRate expectedLifetimePeriods clv averageOrderValue } }`);
    expect(r.errors).toBeUndefined();
    expect(r.data.customerLifetimeValue).toEqual({ churnRate: 0, expectedLifetimePeriods: null, clv: null, averageOrderValue: 20 });
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
  });

  it('rejects a margin outside [0, 1] and a malformed currency', async () => {
    const m = await svc.gql(q('margin: 1.5'));
    expect(m.errors[0].message).toBe('"margin" must be a fraction from 0 to 1 (got 1.5)');
    const c = await svc.gql(q('currency: "usd"'));
    expect(c.errors[0].message).toBe('"currency" must be an ISO 4217 code of 3 upper-case letters (got "usd")');
  });
});
