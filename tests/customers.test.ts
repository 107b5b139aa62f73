import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertProfiles, insertPurchases } from './helpers/events.js';
import { startTestService, type TestService } from './helpers/service.js';

describe('per-customer stats and request batching', () => {
  let svc: TestService;
  const counted = async (query: string) => {
    let n = 0;
    const stop = svc.exec.observe(() => n++);
    try {
      return { result: await svc.gql(query), queries: n };
    } finally {
      stop();
    }
  };

  beforeAll(async () => {
    svc = await startTestService('t_customers');
    await insertPurchases(svc.exec, [
      ['a', '2024-01-05T10:00:00Z', '10.25', 'USD'], ['a', '2024-02-10T10:00:00Z', '0.0001', 'USD'], ['a', '2024-02-11T10:00:00Z', '50', 'EUR'],
      ['b', '2024-03-01T00:00:00Z', '7', 'USD'], ['b', '2024-06-01T00:00:00Z', '1', 'USD'],
    ]);
    await insertProfiles(svc.exec, [['c', '2024-01-01T00:00:00Z', 'FR', null, 'smb']]);
  });
  afterAll(async () => {
    await svc?.stop();
  });

  it('answers many customer lookups of one document with one query', async () => {
    const { result, queries } = await counted(`{
      a: customer(id: "a", asOf: "2024-05-01T00:00:00Z") { customerId firstPurchaseAt lastPurchaseAt orders revenue { currency amount } }
      b: customer(id: "b", asOf: "2024-05-01T00:00:00Z") { orders lastPurchaseAt }
      list: customers(ids: ["c", "nobody", "a"], asOf: "2024-05-01T00:00:00Z") { customerId orders country segment channel }
    }`);
    expect(result.errors).toBeUndefined();
    expect(queries).toBe(1);
    expect(result.data.a).toEqual({
      customerId: 'a',
      firstPurchaseAt: '2024-01-05T10:00:00.000Z',
      lastPurchaseAt: '2024-02-11T10:00:00.000Z',
      orders: 3,
      revenue: [{ currency: 'EUR', amount: 50 }, { currency: 'USD', amount: 10.2501 }],
    });
    // b's June purchase is after asOf.
    expect(result.data.b).toEqual({ orders: 1, lastPurchaseAt: '2024-03-01T00:00:00.000Z' });
    expect(result.data.list).toEqual([
      { customerId: 'c', orders: 0, country: 'FR', segment: 'smb', channel: null },
      null,
      { customerId: 'a', orders: 3, country: null, segment: null, channel: null },
    ]);
  });

  it('knows a customer any counting event names: one only surveyed, one only referred; not one whose every order is cancelled', async () => {
    const events = [
      { type: 'purchase', eventId: 'x-p', customerId: 'x', occurredAt: '2019-02-01T00:00:00Z', amount: '20', currency: 'USD', orderId: 'x-o' },
      { type: 'refund', eventId: 'x-r', customerId: 'x', orderId: 'x-o', occurredAt: '2019-02-02T00:00:00Z', amount: '20', currency: 'USD' },
      { type: 'survey', eventId: 'sv-s', customerId: 'sv', surveyId: 's1', kind: 'NPS', score: 9, occurredAt: '2019-02-01T00:00:00Z' },
      { type: 'referral', eventId: 'rf-1', referralId: 'rf', stage: 'SIGNED_UP', referrerId: 'a', referredCustomerId: 'newbie', occurredAt: '2019-02-01T00:00:00Z' },
      { type: 'purchase', eventId: 'late-p', customerId: 'late', occurredAt: '2019-09-01T00:00:00Z', amount: '5', currency: 'USD' },
    ];
    const res = await fetch(`${svc.url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body: events.map((e) => JSON.stringify(e)).join('\n') });
    expect(await res.json()).toMatchObject({ accepted: 5, rejectedCount: 0 });
    const r = await svc.gql(`{ customers(ids: ["x", "sv", "newbie", "late"], asOf: "2019-05-01T00:00:00Z") { customerId orders firstPurchaseAt revenue { currency } } }`);
    expect(r.errors).toBeUndefined();
    // x's only order is cancelled, and a cancelled order and its refunds count nowhere (spec
    // section 12): x is unknown. sv and newbie are named by a survey and a referral; late's only
    // event is after asOf.
    const none = (customerId: string) => ({ customerId, orders: 0, firstPurchaseAt: null, revenue: [] });
    expect(r.data.customers).toEqual([null, none('sv'), none('newbie'), null]);
    const later = await svc.gql(`{ customer(id: "late", asOf: "2019-10-01T00:00:00Z") { orders } }`);
    expect(later.data.customer).toEqual({ orders: 1 });
  });

  it('runs a KPI asked twice with the same arguments once', async () => {
    const { result, queries } = await counted(`{
      one: repeatPurchaseRate(from: "2024-01-01T00:00:00Z", to: "2025-01-01T00:00:00Z", asOf: "2024-12-31T00:00:00Z") { customers orders }
      two: repeatPurchaseRate(asOf: "2024-12-31T00:00:00Z", to: "2025-01-01T00:00:00Z", from: "2024-01-01T00:00:00Z") { repeatCustomers }
    }`);
    expect(result.data).toEqual({ one: { customers: 2, orders: 5 }, two: { repeatCustomers: 2 } });
    expect(queries).toBe(1);
  });
});
