import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCustomerRfm } from '../loaders/clv-model.loader.js';
import { startTestService, type TestService } from './helpers/service.js';

// Spec section 12 on a store small enough to work out by hand. Refunds are sent before the
// purchases they belong to (out-of-order arrival); every expected value below follows from
// the rules as written, case by case:
// - a: order A1 (01-10, 100 USD) cancelled by one refund on 02-01, so a's first purchase moves
//   from January to A2 (02-15, 50 USD) from asOf 02-01 on; A2 partly refunded (20 on 03-05);
//   purchase a-p3 (03-20, 30 USD, no orderId: its key is its eventId) refunded 10 on 03-25
//   and 25 on 04-02: partial until 04-02, then cancelled (35 >= 30);
// - b: order B1 (01-05, 80 EUR); a refund of B1 in USD (wrong currency) and one by customer c
//   (wrong customer) belong to nothing;
// - c: order C1 (01-20, 40 USD) over-refunded (50 on 01-25): c has no purchase and no cohort;
// - d: order D1 (02-10, 60 USD) refunded in full on 06-01: it counts until then;
// - e: two purchases share orderId E1 (01-03, 10 USD and 01-08, 20 USD); a refund of 10 belongs
//   to the earliest and cancels it, the second counts;
// - f: orders F1 (03-01, 40 USD), F2 (03-10, 100 USD) refunded 30 on 03-12, and F3 (03-15, 10
//   USD) cancelled on 03-16: f is a repeat customer with 110 in orders and 80 net;
// - referral r1 signs c up on 01-15 (c's first purchase would convert it, but it is cancelled
//   from 01-25 on); r2 signs a up on 02-01 (a's first purchase, A2 on 02-15, converts it).
const P = (eventId: string, customerId: string, occurredAt: string, amount: string, currency: string, orderId?: string) => ({
  type: 'purchase', eventId, customerId, occurredAt: `2024-${occurredAt}T12:00:00Z`, amount, currency, ...(orderId ? { orderId } : {}),
});
const R = (eventId: string, customerId: string, orderId: string, occurredAt: string, amount: string, currency = 'USD') => ({
  type: 'refund', eventId, customerId, orderId, occurredAt: `2024-${occurredAt}T12:00:00Z`, amount, currency,
});
const refunds = [
  R('r-a1', 'a', 'A1', '02-01', '100'),
  R('r-a2', 'a', 'A2', '03-05', '20'),
  R('r-ap3-1', 'a', 'a-p3', '03-25', '10'),
  R('r-ap3-2', 'a', 'a-p3', '04-02', '25'),
  R('r-b-usd', 'b', 'B1', '01-06', '80', 'USD'),
  R('r-c-b1', 'c', 'B1', '01-06', '80', 'EUR'),
  R('r-c1', 'c', 'C1', '01-25', '50'),
  R('r-d1', 'd', 'D1', '06-01', '60'),
  R('r-e1', 'e', 'E1', '01-10', '10'),
  R('r-f2', 'f', 'F2', '03-12', '30'),
  R('r-f3', 'f', 'F3', '03-16', '10'),
];
const purchases = [
  P('a-p1', 'a', '01-10', '100', 'USD', 'A1'),
  P('a-p2', 'a', '02-15', '50', 'USD', 'A2'),
  P('a-p3', 'a', '03-20', '30', 'USD'),
  P('b-p1', 'b', '01-05', '80', 'EUR', 'B1'),
  P('c-p1', 'c', '01-20', '40', 'USD', 'C1'),
  P('d-p1', 'd', '02-10', '60', 'USD', 'D1'),
  P('e-p1', 'e', '01-03', '10', 'USD', 'E1'),
  P('e-p2', 'e', '01-08', '20', 'USD', 'E1'),
  P('f-p1', 'f', '03-01', '40', 'USD', 'F1'),
  P('f-p2', 'f', '03-10', '100', 'USD', 'F2'),
  P('f-p3', 'f', '03-15', '10', 'USD', 'F3'),
];
const referrals = [
  { type: 'referral', eventId: 'ref-1', referralId: 'r1', stage: 'SIGNED_UP', referrerId: 'b', referredCustomerId: 'c', occurredAt: '2024-01-15T00:00:00Z' },
  { type: 'referral', eventId: 'ref-2', referralId: 'r2', stage: 'SIGNED_UP', referrerId: 'b', referredCustomerId: 'a', occurredAt: '2024-02-01T00:00:00Z' },
];

const SNAPSHOT = `query($from: DateTime!, $to: DateTime!, $asOf: DateTime) {
  kpiSnapshot(from: $from, to: $to, grain: MONTH, currency: "USD", asOf: $asOf) {
    customers orders newCustomers repeatPurchaseRate revenue refundAmount cancelledOrders averageOrderValue referralConversionRate
  }
}`;
const COHORTS = `query($asOf: DateTime) {
  retentionCohorts(grain: MONTH, from: "2024-01-01T00:00:00Z", to: "2024-04-01T00:00:00Z", periods: 2, asOf: $asOf) {
    cohorts { cohortStart size cells { offset retained } }
  }
}`;

describe('refunds and cancellations (spec section 12), worked by hand', () => {
  let svc: TestService;
  const post = async (events: object[]) => {
    const res = await fetch(`${svc.url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body: events.map((e) => JSON.stringify(e)).join('\n') });
    return res.json();
  };

  beforeAll(async () => {
    svc = await startTestService('t_refunds');
    expect(await post(refunds)).toMatchObject({ accepted: refunds.length, rejectedCount: 0 });
    expect(await post([...purchases, ...referrals])).toMatchObject({ accepted: purchases.length + referrals.length, rejectedCount: 0 });
  });
  afterAll(async () => {
    await svc?.stop();
  });

  const snapshot = async (from: string, to: string, asOf: string) => {
    const r = await svc.gql(SNAPSHOT, { from, to, asOf });
    expect(r.errors).toBeUndefined();
    return r.data.kpiSnapshot;
  };

  it('counts cancelled orders nowhere and subtracts partial refunds at their own time', async () => {
    // Orders as of 05-01: A2, B1 (EUR), D1, E's second purchase, F1, F2; f alone repeats (1 of 5 customers).
    // USD revenue 50 + 60 + 20 + 40 + 100 - 20 (A2's refund) - 30 (F2's) = 220 over 5 USD orders.
    // Cancelled purchases in the window: a-p1, a-p3, c-p1, e-p1, f-p3.
    expect(await snapshot('2024-01-01T00:00:00Z', '2024-05-01T00:00:00Z', '2024-05-01T00:00:00Z')).toEqual({
      customers: 5, orders: 6, newCustomers: 5, repeatPurchaseRate: 0.2, revenue: 220, refundAmount: 50, cancelledOrders: 5,
      averageOrderValue: 44, referralConversionRate: 0.5,
    });
    // February alone: A2 and D1, and no refund in it; A1's refund (02-01) is not revenue, A1 being cancelled.
    expect(await snapshot('2024-02-01T00:00:00Z', '2024-03-01T00:00:00Z', '2024-05-01T00:00:00Z')).toMatchObject({
      customers: 2, orders: 2, revenue: 110, refundAmount: 0, cancelledOrders: 0, averageOrderValue: 55,
    });
    // April alone: no order; nothing refunded in it belongs to an order still standing.
    expect(await snapshot('2024-04-01T00:00:00Z', '2024-05-01T00:00:00Z', '2024-05-01T00:00:00Z')).toMatchObject({
      customers: 0, orders: 0, revenue: 0, refundAmount: 0, cancelledOrders: 0, averageOrderValue: null,
    });
    // March: F1 and F2 (a-p3 and f-p3 cancelled); refunds of A2 (20) and F2 (30) fall in it: 140 - 50.
    expect(await snapshot('2024-03-01T00:00:00Z', '2024-04-01T00:00:00Z', '2024-05-01T00:00:00Z')).toMatchObject({
      customers: 1, orders: 2, revenue: 90, refundAmount: 50, cancelledOrders: 2, averageOrderValue: 45,
    });
  });

  it('judges every refund as of asOf: a later asOf restates the past', async () => {
    // 01-31: A1 still counts (its refund is on 02-01); c-p1 and e-p1 are already cancelled; r1 is not converted.
    expect(await snapshot('2024-01-01T00:00:00Z', '2024-02-01T00:00:00Z', '2024-01-31T00:00:00Z')).toEqual({
      customers: 3, orders: 3, newCustomers: 3, repeatPurchaseRate: 0, revenue: 120, refundAmount: 0, cancelledOrders: 2,
      averageOrderValue: 60, referralConversionRate: 0,
    });
    // 01-22: c-p1 (01-20) not refunded yet: it converts r1.
    expect((await snapshot('2024-01-01T00:00:00Z', '2024-02-01T00:00:00Z', '2024-01-22T00:00:00Z')).referralConversionRate).toBe(1);
    // 07-01: D1 is cancelled (06-01) too; A2, B1, E's second purchase, F1 and F2 are the orders.
    // USD: 50 + 20 + 40 + 100 - 20 - 30 = 160 over 4 orders.
    expect(await snapshot('2024-01-01T00:00:00Z', '2024-07-01T00:00:00Z', '2024-07-01T00:00:00Z')).toEqual({
      customers: 4, orders: 5, newCustomers: 4, repeatPurchaseRate: 0.25, revenue: 160, refundAmount: 50, cancelledOrders: 6,
      averageOrderValue: 40, referralConversionRate: 0.5,
    });
  });

  it("moves a customer's cohort when their first order is cancelled, and drops activity with a cancelled order", async () => {
    const cohorts = async (asOf: string) => {
      const r = await svc.gql(COHORTS, { asOf });
      expect(r.errors).toBeUndefined();
      return r.data.retentionCohorts.cohorts.map((c: any) => [c.cohortStart.slice(0, 7), c.size, c.cells.map((x: any) => x.retained)]);
    };
    // Cells exist for the periods started by asOf. 01-31: January holds a (A1), b and e; c's only purchase is cancelled.
    expect(await cohorts('2024-01-31T00:00:00Z')).toEqual([['2024-01', 3, [3]]]);
    // 03-21: a moved to February (A1 cancelled); a-p3 (03-20) is not refunded yet, so a is active in March.
    expect(await cohorts('2024-03-21T00:00:00Z')).toEqual([['2024-01', 2, [2, 0, 0]], ['2024-02', 2, [2, 1]], ['2024-03', 1, [1]]]);
    // 04-30: a-p3 is cancelled: a is no longer active in March.
    expect(await cohorts('2024-04-30T00:00:00Z')).toEqual([['2024-01', 2, [2, 0, 0]], ['2024-02', 2, [2, 0, 0]], ['2024-03', 1, [1, 0]]]);
  });

  it("gives the predictive model each order's amount net of its refunds, without cancelled orders", async () => {
    // f as of 05-01: orders on 03-01 (40) and 03-10 (100 - 30): frequency 1, recency 9 days, T 61 days,
    // monetary = the repeat orders' net amount = 70. At 03-11 F2 is not refunded yet: monetary 100.
    const rfm = async (calibrationEnd: string) =>
      (await runCustomerRfm(svc.exec, { requestId: 't' }, { calibrationEnd: new Date(calibrationEnd), currency: 'USD' }, ['f']))[0];
    expect(await rfm('2024-05-01T00:00:00Z')).toMatchObject({ frequency: 1, recency_days: 9, t_days: 61, monetary: 70 });
    expect(await rfm('2024-03-11T00:00:00Z')).toMatchObject({ frequency: 1, recency_days: 9, t_days: 10, monetary: 100 });
  });

  it('answers customer(s) with orders and net revenue', async () => {
    const r = await svc.gql(`{ customers(ids: ["a", "c"], asOf: "2024-05-01T00:00:00Z") { customerId firstPurchaseAt orders revenue { currency amount } } }`);
    expect(r.errors).toBeUndefined();
    expect(r.data.customers).toEqual([
      { customerId: 'a', firstPurchaseAt: '2024-02-15T12:00:00.000Z', orders: 1, revenue: [{ currency: 'USD', amount: 30 }] },
      // c: every purchase cancelled, so no order, no purchase dates and no revenue; c still exists,
      // named by the referral that referred them (spec section 1: any event naming a customer).
      { customerId: 'c', firstPurchaseAt: null, orders: 0, revenue: [] },
    ]);
  });
});
