import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CURRENCY_REFRESH_MS, StoreCurrencies } from '../loaders/reporting-currency.js';
import { ConfigError, loadConfig } from '../server/config.js';
import { insertPurchases } from './helpers/events.js';
import { startTestService, type TestService } from './helpers/service.js';

const SNAPSHOT = '{ kpiSnapshot(from: "2025-01-01T00:00:00Z", to: "2025-02-01T00:00:00Z", asOf: "2025-06-01T00:00:00Z") { currency revenue orders averageOrderValue } }';
// A GBP-only store: January 2025 holds 10.50 + 4.25 + 20 = 34.75 in 3 orders; February's order is outside the window.
const GBP_ONLY: [string, string, string, string][] = [
  ['a', '2025-01-10T00:00:00Z', '10.50', 'GBP'],
  ['a', '2025-01-20T00:00:00Z', '4.25', 'GBP'],
  ['b', '2025-01-15T00:00:00Z', '20', 'GBP'],
  ['b', '2025-02-15T00:00:00Z', '99', 'GBP'],
];

describe('default reporting currency', () => {
  let plain: TestService;
  let usd: TestService;

  beforeAll(async () => {
    plain = await startTestService('t_currency_default');
    usd = await startTestService('t_currency_usd', { REPORTING_CURRENCY: 'USD' });
    await insertPurchases(plain.exec, GBP_ONLY);
    await insertPurchases(usd.exec, GBP_ONLY);
  });
  afterAll(async () => {
    await plain?.stop();
    await usd?.stop();
  });

  it('answers money KPIs in USD when REPORTING_CURRENCY is not set (spec section 6), and says the store has none', async () => {
    const res = await plain.gql(SNAPSHOT);
    expect(res.errors).toBeUndefined();
    expect(res.data.kpiSnapshot).toEqual({ currency: 'USD', revenue: 0, orders: 3, averageOrderValue: null });
    expect(res.extensions.warnings).toEqual([
      { code: 'CURRENCY_WITHOUT_PURCHASES', field: 'currency', message: expect.stringContaining('no purchase in USD (the default: set REPORTING_CURRENCY'), knownValues: ['GBP'] },
    ]);
    const gbp = await plain.gql(SNAPSHOT.replace('asOf:', 'currency: "GBP", asOf:'));
    expect(gbp.data.kpiSnapshot).toEqual({ currency: 'GBP', revenue: 34.75, orders: 3, averageOrderValue: 34.75 / 3 });
    expect(gbp.extensions?.warnings).toBeUndefined();
  });

  it('uses REPORTING_CURRENCY when set, and warns that the store has no purchase in it', async () => {
    const res = await usd.gql(SNAPSHOT);
    expect(res.errors).toBeUndefined();
    expect(res.data.kpiSnapshot).toMatchObject({ currency: 'USD', revenue: 0, orders: 3, averageOrderValue: null });
    expect(res.extensions.warnings).toEqual([
      { code: 'CURRENCY_WITHOUT_PURCHASES', field: 'currency', message: expect.stringContaining('no purchase in USD (REPORTING_CURRENCY)'), knownValues: ['GBP'] },
    ]);
  });

  it('warns about an asked currency without purchases, once per document', async () => {
    const res = await plain.gql(`{
      clv: customerLifetimeValue(from: "2025-01-01T00:00:00Z", to: "2025-02-01T00:00:00Z", currency: "EUR") { currency revenue }
      impact: referralImpact(from: "2025-01-01T00:00:00Z", to: "2025-02-01T00:00:00Z", currency: "EUR") { kFactor }
    }`);
    expect(res.errors).toBeUndefined();
    expect(res.data.clv).toEqual({ currency: 'EUR', revenue: 0 });
    expect(res.extensions.warnings).toHaveLength(1);
    expect(res.extensions.warnings[0]).toMatchObject({ code: 'CURRENCY_WITHOUT_PURCHASES', field: 'currency', knownValues: ['GBP'] });
  });

  it('refuses a currency that is not an ISO 4217 code', async () => {
    const res = await plain.gql('{ customerLifetimeValue(from: "2025-01-01T00:00:00Z", to: "2025-02-01T00:00:00Z", currency: "ABC") { revenue } }');
    expect(res.errors[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'currency' });
  });

  it('reads REPORTING_CURRENCY as optional and checks it against ISO 4217', () => {
    expect(loadConfig({}).reportingCurrency).toBeUndefined();
    expect(loadConfig({ REPORTING_CURRENCY: 'GBP' }).reportingCurrency).toBe('GBP');
    expect(() => loadConfig({ REPORTING_CURRENCY: 'ABC' })).toThrow(ConfigError);
  });

  it('counts purchases per currency at most once per refresh period, adding this process\'s inserts as they succeed', async () => {
    let now = new Date('2030-01-01T00:00:00Z');
    const currencies = new StoreCurrencies(plain.exec, () => now);
    let statements = 0;
    const stop = plain.exec.observe(() => statements++);
    const listed = async () => {
      const before = statements;
      return { list: await currencies.list(), statements: statements - before };
    };
    try {
      expect(await listed()).toEqual({ list: [{ value: 'GBP', n: 4 }], statements: 1 });
      await insertPurchases(plain.exec, [['c', '2025-03-01T00:00:00Z', '1', 'CHF'], ['c', '2025-03-02T00:00:00Z', '1', 'AUD']]);
      const afterInsert = [{ value: 'GBP', n: 4 }, { value: 'AUD', n: 1 }, { value: 'CHF', n: 1 }]; // ties in code order
      now = new Date(now.getTime() + CURRENCY_REFRESH_MS - 1);
      expect(await listed()).toEqual({ list: afterInsert, statements: 0 });
      now = new Date(now.getTime() + 1);
      expect(await listed()).toEqual({ list: afterInsert, statements: 1 });
    } finally {
      stop();
    }
  });

  it("keeps the warning's currencies current as soon as this process stores purchases", async () => {
    const known = async () => (await plain.gql(SNAPSHOT)).extensions.warnings[0].knownValues;
    expect((await known())[0]).toBe('GBP'); // the count is cached now
    // 5 CAD purchases outnumber the 4 GBP ones.
    const send = async (events: object[]) =>
      (await fetch(`${plain.url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body: events.map((e) => JSON.stringify(e)).join('\n') })).json();
    const cad = [1, 2, 3, 4, 5].map((i) => ({ type: 'purchase', eventId: `cad-${i}`, customerId: 'z', occurredAt: `2025-01-0${i}T00:00:00Z`, amount: '2', currency: 'CAD' }));
    expect(await send(cad)).toEqual({ accepted: 5, duplicates: 0, rejectedCount: 0, rejected: [] });
    expect((await known()).slice(0, 2)).toEqual(['CAD', 'GBP']);
    // One USD purchase in January: the default currency has purchases, no warning; 8 orders, 1 in USD.
    await send([{ type: 'purchase', eventId: 'usd-1', customerId: 'z', occurredAt: '2025-01-09T00:00:00Z', amount: '7', currency: 'USD' }]);
    const res = await plain.gql(SNAPSHOT);
    expect(res.data.kpiSnapshot).toEqual({ currency: 'USD', revenue: 7, orders: 9, averageOrderValue: 7 });
    expect(res.extensions?.warnings).toBeUndefined();
  });
});

describe('the currency warning of a store whose purchases lie ahead of the clock', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService('t_currency_future');
    await insertPurchases(svc.exec, [['f', '2090-03-01T00:00:00Z', '12', 'USD']]);
  });
  afterAll(async () => {
    await svc?.stop();
  });

  it('does not say the store has no purchase in a currency it holds only after now', async () => {
    const res = await svc.gql('{ kpiSnapshot(from: "2090-03-01T00:00:00Z", to: "2090-04-01T00:00:00Z", asOf: "2090-06-01T00:00:00Z") { currency revenue orders } }');
    expect(res.errors).toBeUndefined();
    expect(res.data.kpiSnapshot).toEqual({ currency: 'USD', revenue: 12, orders: 1 });
    expect(res.extensions?.warnings).toBeUndefined();
  });
});
