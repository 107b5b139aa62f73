import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { estimateCost } from '../schema/cost.js';
import { RequestTimeoutError } from '../server/storage/errors.js';
import { insertPurchases } from './helpers/events.js';
import { startTestService, type TestService } from './helpers/service.js';

const DAY_MS = 86_400_000;
const iso = (ms: number) => new Date(ms).toISOString();
const aliases = (n: number, field: (i: number) => string) => Array.from({ length: n }, (_, i) => `a${i}: ${field(i)}`).join('\n');

/** Runs a document and counts the SQL statements it sent, through the executor's own hook. */
async function counted(svc: TestService, query: string, variables?: Record<string, unknown>) {
  let statements = 0;
  const stop = svc.exec.observe(() => statements++);
  try {
    return { ...(await svc.gql(query, variables)), statements };
  } finally {
    stop();
  }
}

describe('periods per call and the per-request budget (default limits)', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService('t_budget');
    await insertPurchases(svc.exec, [
      ['a', '1990-01-01T10:00:00Z', '10', 'USD'],
      ['a', '1990-01-02T10:00:00Z', '10', 'USD'],
    ]);
  });
  afterAll(async () => {
    await svc?.stop();
  });

  it('refuses a DAY window from 1970 with the period limit in the message, before any SQL', async () => {
    // 1970-01-01 .. 2099-12-31: 130 years of 365 days and 32 leap days (1972 .. 2096), less one day.
    const r = await counted(svc, '{ retentionRate(grain: DAY, from: "1970-01-01T00:00:00Z", to: "2099-12-31T00:00:00Z") { periodStart } }');
    expect(r.statements).toBe(0);
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'grain' });
    expect(r.errors[0].message).toContain(`holds ${130 * 365 + 32 - 1} DAY periods`);
    expect(r.errors[0].message).toContain('at most 20000');
  });

  it('counts the periods of a window in a zone exactly: a window of 20 000 local days is answered, one more is not', async () => {
    // New York local midnights: 1970-01-01 (05:00Z) and 20 000 days later, 2024-10-04 (04:00Z, daylight time).
    const doc = (to: string) => `{ retentionRate(grain: DAY, timezone: "America/New_York", from: "1970-01-01T05:00:00Z", to: "${to}", asOf: "2030-01-01T00:00:00Z") { periodStart } }`;
    const exact = await svc.gql(doc('2024-10-04T04:00:00Z'));
    expect(exact.errors).toBeUndefined();
    expect(exact.data.retentionRate).toHaveLength(20_000);
    const over = await svc.gql(doc('2024-10-04T04:00:00.001Z'));
    expect(over.errors[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'grain' });
    expect(over.errors[0].message).toContain('holds 20001 DAY periods');
  });

  it('refuses thirty aliases of the DAY window from 1970 before any SQL runs', async () => {
    const doc = `{ ${aliases(30, () => 'retentionRate(grain: DAY, from: "1970-01-01T00:00:00Z", to: "2099-12-31T00:00:00Z") { periodStart previousCustomers retainedCustomers rate }')} }`;
    const r = await counted(svc, doc);
    expect(r.statements).toBe(0);
    expect(r.data).toBeNull();
    expect(r.errors.length).toBeGreaterThan(0);
    expect(r.errors.every((e: any) => e.extensions.code === 'BAD_USER_INPUT' && e.message.includes('at most 20000'))).toBe(true);
  });

  it('asks the engine nothing for the retention of a window in which no period of the grain starts', async () => {
    const weekDoc = '{ kpiSnapshot(grain: MONTH, from: "1990-01-02T00:00:00Z", to: "1990-01-09T00:00:00Z", asOf: "1990-02-01T00:00:00Z") { retentionRate } }';
    // Once ahead, so that the store's currencies (counted once per service) are known to both below.
    await counted(svc, weekDoc);
    // January and February, where February starts and a's January is followed by nothing.
    const months = await counted(svc, '{ kpiSnapshot(grain: MONTH, from: "1990-01-01T00:00:00Z", to: "1990-03-01T00:00:00Z", asOf: "1990-03-01T00:00:00Z") { retentionRate } }');
    expect(months.data.kpiSnapshot).toEqual({ retentionRate: 0 });
    // 1990-01-02 .. 1990-01-09 holds no month start: no period, so no previous customers.
    const week = await counted(svc, weekDoc);
    expect(week.errors).toBeUndefined();
    expect(week.data.kpiSnapshot).toEqual({ retentionRate: null });
    // The snapshot runs its other parts either way; the week's leaves out the retention query.
    expect(week.statements).toBe(months.statements - 1);
  });

  it('refuses a cohort matrix of more cells than one call answers, naming periods', async () => {
    // 366 daily cohorts of 2024 (a leap year) x 121 offsets.
    const r = await counted(svc, '{ retentionCohorts(grain: DAY, periods: 120, from: "2024-01-01T00:00:00Z", to: "2025-01-01T00:00:00Z") { cohorts { size } } }');
    expect(r.statements).toBe(0);
    expect(r.errors[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'periods' });
    expect(r.errors[0].message).toContain(`${366 * 121} cells`);
  });

  it('refuses thirty aliases that each fit one call but together pass GRAPHQL_MAX_RESULT_ROWS, naming the budget', async () => {
    // 1975-01-01 .. 2026-01-01: 51 years of 365 days and 13 leap days (1976 .. 2024).
    const days = 51 * 365 + 13;
    const doc = `{ ${aliases(30, () => 'retentionRate(grain: DAY, from: "1975-01-01T00:00:00Z", to: "2026-01-01T00:00:00Z") { periodStart rate }')} }`;
    const r = await counted(svc, doc);
    expect(r.statements).toBe(0);
    expect(r.status).toBe(400);
    expect(r.data).toBeUndefined();
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0].extensions.code).toBe('BAD_USER_INPUT');
    expect(r.errors[0].message).toContain(`asks for up to ${30 * days} result rows and the per-request budget is 20000 (GRAPHQL_MAX_RESULT_ROWS)`);
    expect(r.errors[0].extensions.budget).toEqual({ rows: 30 * days, maxRows: 20_000, statements: 30, maxStatements: 1000 });
  });

  it('refuses thirty kpiSeries of 120 months past GRAPHQL_MAX_STATEMENTS before any SQL', async () => {
    const doc = `{ ${aliases(30, (i) => `kpiSeries(grain: MONTH, from: "${2000 + (i % 5)}-01-01T00:00:00Z", to: "${2010 + (i % 5)}-01-01T00:00:00Z", currency: "USD") { customers retentionRate }`)} }`;
    const r = await counted(svc, doc);
    expect(r.statements).toBe(0);
    expect(r.status).toBe(400);
    // 120 periods, each a kpiSnapshot of nine statements but for the four that one statement
    // answers for every period, and the store's currencies counted once.
    expect(r.errors[0].message).toContain(`asks for up to ${30 * (120 * 5 + 4 + 1)} SQL statements and the per-request budget is 1000 (GRAPHQL_MAX_STATEMENTS)`);
    expect(r.errors[0].message).toContain('the largest field is "a0: kpiSeries" with 605');
  });

  it('refuses thirty aliases of customers(ids) with 10,000 ids each, bound as a variable', async () => {
    const ids = Array.from({ length: 10_000 }, (_, i) => `customer-${i}`);
    const doc = `query Many($ids: [String!]!) { ${aliases(30, () => 'customers(ids: $ids) { customerId orders }')} }`;
    const r = await counted(svc, doc, { ids });
    expect(r.statements).toBe(0);
    expect(r.status).toBe(400);
    expect(r.errors[0].message).toContain(`asks for up to ${30 * 10_000} result rows`);
  });

  it('never estimates fewer statements than a field runs', async () => {
    const from = '2024-01-01T00:00:00Z';
    const to = '2024-04-01T00:00:00Z';
    const w = { from: new Date(from), to: new Date(to) };
    const cases: [string, string, Record<string, unknown>][] = [
      ['retentionRate', `retentionRate(from: "${from}", to: "${to}", grain: WEEK) { rate }`, { ...w, grain: 'WEEK' }],
      ['retentionRateSummary', `retentionRateSummary(from: "${from}", to: "${to}") { pooledRate }`, { ...w, grain: 'MONTH' }],
      ['retentionCohorts', `retentionCohorts(from: "${from}", to: "${to}", periods: 3) { cohorts { size } }`, { ...w, grain: 'MONTH', periods: 3 }],
      ['customerLifetimeValue', `customerLifetimeValue(from: "${from}", to: "${to}", periods: 3) { clv }`, { ...w, grain: 'MONTH', periods: 3 }],
      ['nps', `nps(from: "${from}", to: "${to}") { score }`, { ...w, grain: 'MONTH' }],
      ['csat', `csat(from: "${from}", to: "${to}") { score }`, { ...w, grain: 'MONTH' }],
      ['referralConversionCohorts', `referralConversionCohorts(from: "${from}", to: "${to}") { clicked }`, { ...w, grain: 'MONTH', attributionWindowDays: 90 }],
      ['kpiSnapshot', `kpiSnapshot(from: "${from}", to: "${to}") { customers }`, { ...w }],
      ['kpiSeries', `kpiSeries(from: "${from}", to: "${to}") { customers }`, { ...w, grain: 'MONTH' }],
      ['customers', `customers(ids: ["a", "b"]) { orders }`, { ids: ['a', 'b'] }],
      ['customer', `customer(id: "a") { orders }`, { id: 'a' }],
      ['repeatPurchaseRate', `repeatPurchaseRate(from: "${from}", to: "${to}") { rate }`, { ...w }],
      ['npsImpact', `npsImpact(from: "${from}", to: "${to}") { promoters { customers } }`, { ...w }],
      ['referralImpact', `referralImpact(from: "${from}", to: "${to}") { kFactor }`, { ...w }],
      ['loyaltyProgram', `loyaltyProgram(from: "${from}", to: "${to}", filter: { loyaltyMember: true }) { members tiers { tier } }`, { ...w, filter: { loyaltyMember: true } }],
      ['followUpImpact', `followUpImpact(campaign: "c", from: "${from}", to: "${to}") { uplift }`, { ...w, campaign: 'c' }],
      ['followUpCampaigns', `followUpCampaigns(from: "${from}", to: "${to}") { campaign }`, { ...w }],
      ['kpiSnapshots', `kpiSnapshots(name: "board") { edges { cursor } }`, { name: 'board', first: 20 }],
      ['latestKpiSnapshot', `latestKpiSnapshot(name: "board") { createdAt }`, { name: 'board' }],
    ];
    // The CLV model's fields are left out: two purchases fit no model, and a failing fit costs seconds.
    for (const [field, selection, args] of cases) {
      const r = await counted(svc, `{ ${selection} }`);
      expect(r.errors, field).toBeUndefined();
      expect(r.statements, field).toBeGreaterThan(0);
      expect(r.statements, field).toBeLessThanOrEqual(estimateCost(field, args, new Date()).statements);
    }
  });

  it('counts fields skipped by @skip as nothing', async () => {
    const doc = `query Q($skip: Boolean!) { ${aliases(30, () => 'retentionRate(grain: DAY, from: "1975-01-01T00:00:00Z", to: "2026-01-01T00:00:00Z") @skip(if: $skip) { rate }')} storageVersion }`;
    const r = await counted(svc, doc, { skip: true });
    expect(r.errors).toBeUndefined();
    expect(r.statements).toBe(0);
  });
});

describe('the request deadline (GRAPHQL_MAX_REQUEST_TIME)', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService('t_budget_deadline');
  });
  afterAll(async () => {
    await svc?.stop();
  });

  const run = async (deadlineAt: number) => {
    let statements = 0;
    const stop = svc.exec.observe(() => statements++);
    const err = await svc.exec
      .rows({ query: 'SELECT sum(cityHash64(number)) FROM numbers(100000000000)', query_params: {} }, { requestId: 'late-1', deadline: { at: deadlineAt, limitS: 7 } })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    stop();
    return { err, statements };
  };

  it('sends no statement once the deadline has passed', async () => {
    const { err, statements } = await run(Date.now() - 1);
    expect(statements).toBe(0);
    expect(err).toBeInstanceOf(RequestTimeoutError);
    expect((err as Error).message).toBe(
      'The request ran past its time budget of 7 s and was stopped. Ask for less in one request (fewer periods, ids or aliases), or raise GRAPHQL_MAX_REQUEST_TIME.',
    );
  });

  it('stops a statement at what is left of the request budget when that is shorter than QUERY_MAX_EXECUTION_TIME', async () => {
    const { err, statements } = await run(Date.now() + 200);
    expect(statements).toBe(1);
    expect(err).toBeInstanceOf(RequestTimeoutError);
  });
});

describe('customers(ids) in statements split by bytes', () => {
  let svc: TestService;
  // 128 characters each, the longest customerId the spec allows.
  const ids = Array.from({ length: 10_000 }, (_, i) => `${String(i).padStart(6, '0')}-`.padEnd(128, 'x'));
  beforeAll(async () => {
    svc = await startTestService('t_budget_ids');
    await insertPurchases(svc.exec, [
      [ids[0]!, '2024-01-05T10:00:00Z', '10', 'USD'],
      [ids[9_999]!, '2024-01-06T10:00:00Z', '20', 'USD'],
      [ids[9_999]!, '2024-01-07T10:00:00Z', '5', 'USD'],
    ]);
  });
  afterAll(async () => {
    await svc?.stop();
  });

  it('binds 10,000 ids of 128 characters in several statements of at most 256 KiB', async () => {
    const r = await counted(svc, 'query Q($ids: [String!]!) { customers(ids: $ids, asOf: "2025-01-01T00:00:00Z") { customerId orders } }', { ids });
    expect(r.errors).toBeUndefined();
    // 128 bytes and 4 for quotes and separator per id: 1985 ids fit 262 144 bytes, so 10 000 ids take 6 statements.
    expect(r.statements).toBe(Math.ceil(10_000 / Math.floor(262_144 / 132)));
    expect(r.data.customers).toHaveLength(10_000);
    expect(r.data.customers[0]).toEqual({ customerId: ids[0], orders: 1 });
    expect(r.data.customers[9_999]).toEqual({ customerId: ids[9_999], orders: 2 });
    expect(r.data.customers.filter((c: unknown) => c !== null)).toHaveLength(2);
  });

  it('refuses more than 10,000 ids in one call', async () => {
    const r = await counted(svc, 'query Q($ids: [String!]!) { customers(ids: $ids) { customerId } }', { ids: [...ids, 'one-more'] });
    expect(r.statements).toBe(0);
    expect(r.errors[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'ids' });
    expect(r.errors[0].message).toContain('at most 10000 ids');
  });
});

describe('a budget set lower by configuration', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService('t_budget_low', { GRAPHQL_MAX_STATEMENTS: '37', GRAPHQL_MAX_RESULT_ROWS: '500' });
  });
  afterAll(async () => {
    await svc?.stop();
  });

  it('runs a document of exactly GRAPHQL_MAX_RESULT_ROWS (500) rows and refuses one more', async () => {
    const start = Date.UTC(1980, 0, 1);
    const field = (from: number, days: number) => `retentionRate(grain: DAY, from: "${iso(from)}", to: "${iso(from + days * DAY_MS)}") { periodStart }`;
    const doc = (lastDays: number) => `{ a: ${field(start, 200)} b: ${field(start + DAY_MS, 200)} c: ${field(start, lastDays)} }`;
    const ok = await counted(svc, doc(100));
    expect(ok.errors).toBeUndefined();
    expect([ok.data.a.length, ok.data.b.length, ok.data.c.length]).toEqual([200, 200, 100]);
    expect(ok.statements).toBe(3);
    const refused = await counted(svc, doc(101));
    expect(refused.statements).toBe(0);
    expect(refused.errors[0].message).toContain('asks for up to 501 result rows');
  });

  it('runs a kpiSeries of six months (35 statements at most: 6 x 5; new customers, referral conversion, repeat purchase and the CLV summary once for all six; the currency count) and refuses seven', async () => {
    const doc = (to: string) => `{ kpiSeries(grain: MONTH, from: "2024-01-01T00:00:00Z", to: "${to}", currency: "USD") { from customers } }`;
    const ok = await counted(svc, doc('2024-07-01T00:00:00Z'));
    expect(ok.errors).toBeUndefined();
    expect(ok.data.kpiSeries).toHaveLength(6);
    expect(ok.statements).toBeLessThanOrEqual(35);
    const refused = await counted(svc, doc('2024-08-01T00:00:00Z'));
    expect(refused.statements).toBe(0);
    expect(refused.errors[0].message).toContain('asks for up to 40 SQL statements and the per-request budget is 37 (GRAPHQL_MAX_STATEMENTS)');
  });
});
