import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKpiClient, RetentionCohortsDocument } from '../client/index.js';
import { insertProfiles, insertPurchases } from './helpers/events.js';
import { startTestService, type TestService } from './helpers/service.js';

// Hand-computed fixture (UTC months unless said otherwise):
//   a: Jan 10, Feb 05, Apr 20 (after asOf)   b: Jan 31 23:30Z (Feb 1 in Berlin), Mar 01 00:00Z
//   c: Feb 15, Feb 20                         d: Dec 15 2023 (first purchase before the window), Jan 05
//   e: Jan 03, May 10 (after asOf)
const AS_OF = '2024-04-15T00:00:00.000Z';

describe('retention KPIs', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService('t_retention');
    await insertPurchases(svc.exec, [
      ['a', '2024-01-10T12:00:00Z'], ['a', '2024-02-05T12:00:00Z'], ['a', '2024-04-20T12:00:00Z'],
      ['b', '2024-01-31T23:30:00Z'], ['b', '2024-03-01T00:00:00Z'],
      ['c', '2024-02-15T12:00:00Z'], ['c', '2024-02-20T12:00:00Z'],
      ['d', '2023-12-15T12:00:00Z'], ['d', '2024-01-05T12:00:00Z'],
      ['e', '2024-01-03T12:00:00Z'], ['e', '2024-05-10T12:00:00Z'],
    ]);
    await insertProfiles(svc.exec, [
      ['a', '2024-01-01T00:00:00Z', 'US', 'organic', 'smb'],
      ['b', '2024-01-01T00:00:00Z', 'DE', 'paid', null],
      ['e', '2024-01-01T00:00:00Z', 'US', 'paid', 'smb'],
      // e moves to GB after asOf: the filter must still see US.
      ['e', '2024-04-20T00:00:00Z', 'GB', 'paid', 'smb'],
    ]);
  });
  afterAll(async () => {
    await svc?.stop();
  });

  const cohortsQuery = `query($tz: String, $from: DateTime!, $to: DateTime!, $periods: Int, $filter: CustomerFilter) {
    retentionCohorts(grain: MONTH, from: $from, to: $to, periods: $periods, asOf: "${AS_OF}", timezone: $tz, filter: $filter) {
      grain
      cohorts { cohortStart size cells { offset periodStart retained rate retainedOrLater rateOrLater complete } }
      average { offset cohorts size retained rate retainedOrLater }
    }
  }`;

  it('builds monthly cohorts from first purchases ever, up to asOf', async () => {
    // Through the typed client and the codegen'd document other services use.
    const client = createKpiClient({ url: `${svc.url}/graphql` });
    const r = await client.request(RetentionCohortsDocument, { from: '2024-01-01T00:00:00Z', to: '2024-03-01T00:00:00Z', periods: 3, asOf: AS_OF });
    expect(r.retentionCohorts.grain).toBe('MONTH');
    expect(r.retentionCohorts.cohorts).toMatchObject([
      {
        cohortStart: '2024-01-01T00:00:00.000Z',
        size: 3,
        cells: [
          { offset: 0, periodStart: '2024-01-01T00:00:00.000Z', retained: 3, rate: 1, retainedOrLater: 3, rateOrLater: 1, complete: true },
          { offset: 1, periodStart: '2024-02-01T00:00:00.000Z', retained: 1, rate: 1 / 3, retainedOrLater: 2, rateOrLater: 2 / 3, complete: true },
          { offset: 2, periodStart: '2024-03-01T00:00:00.000Z', retained: 1, rate: 1 / 3, retainedOrLater: 1, rateOrLater: 1 / 3, complete: true },
          { offset: 3, periodStart: '2024-04-01T00:00:00.000Z', retained: 0, rate: 0, retainedOrLater: 0, rateOrLater: 0, complete: false },
        ],
      },
      {
        cohortStart: '2024-02-01T00:00:00.000Z',
        size: 1,
        cells: [
          { offset: 0, periodStart: '2024-02-01T00:00:00.000Z', retained: 1, rate: 1, retainedOrLater: 1, rateOrLater: 1, complete: true },
          { offset: 1, periodStart: '2024-03-01T00:00:00.000Z', retained: 0, rate: 0, retainedOrLater: 0, rateOrLater: 0, complete: true },
          { offset: 2, periodStart: '2024-04-01T00:00:00.000Z', retained: 0, rate: 0, retainedOrLater: 0, rateOrLater: 0, complete: false },
        ],
      },
    ]);
    expect(r.retentionCohorts.average).toMatchObject([
      { offset: 0, cohorts: 2, size: 4, retained: 4, rate: 1, retainedOrLater: 4 },
      { offset: 1, cohorts: 2, size: 4, retained: 1, rate: 0.25, retainedOrLater: 2 },
      { offset: 2, cohorts: 2, size: 4, retained: 1, rate: 0.25, retainedOrLater: 1 },
      { offset: 3, cohorts: 1, size: 3, retained: 0, rate: 0, retainedOrLater: 0 },
    ]);
  });

  it('gives each cell its 95% Wilson interval', async () => {
    const r = await svc.gql(`{ retentionCohorts(from: "2024-01-01T00:00:00Z", to: "2024-02-01T00:00:00Z", periods: 1, asOf: "${AS_OF}") {
      cohorts { cells { retained rateLow rateHigh } } } }`);
    const [k0, k1] = r.data.retentionCohorts.cohorts[0].cells;
    // 3 of 3: [0.4385, 1]; 1 of 3: [0.0615, 0.7923] (published Wilson tables).
    expect(k0.rateLow).toBeCloseTo(0.4385, 4);
    expect(k0.rateHigh).toBe(1);
    expect(k1.rateLow).toBeCloseTo(0.0615, 4);
    expect(k1.rateHigh).toBeCloseTo(0.7923, 4);
  });

  it('moves period boundaries to local midnight in a named zone', async () => {
    const r = await svc.gql(cohortsQuery, { tz: 'Europe/Berlin', from: '2023-12-31T23:00:00Z', to: '2024-02-29T23:00:00Z', periods: 1 });
    expect(r.errors).toBeUndefined();
    expect(r.data.retentionCohorts.cohorts.map((c: any) => [c.cohortStart, c.size, c.cells.map((x: any) => [x.periodStart, x.retained])])).toEqual([
      ['2023-12-31T23:00:00.000Z', 2, [['2023-12-31T23:00:00.000Z', 2], ['2024-01-31T23:00:00.000Z', 1]]],
      ['2024-01-31T23:00:00.000Z', 2, [['2024-01-31T23:00:00.000Z', 2], ['2024-02-29T23:00:00.000Z', 1]]],
    ]);
  });

  it('filters cohorts by the latest profile as of asOf', async () => {
    const r = await svc.gql(cohortsQuery, { from: '2024-01-01T00:00:00Z', to: '2024-03-01T00:00:00Z', periods: 1, filter: { country: ['US'] } });
    expect(r.errors).toBeUndefined();
    // a and e are US as of asOf (e's GB version comes later); both are January customers.
    expect(r.data.retentionCohorts.cohorts.map((c: any) => [c.cohortStart, c.size, c.cells.map((x: any) => x.retained)])).toEqual([
      ['2024-01-01T00:00:00.000Z', 2, [2, 1]],
    ]);
    const none = await svc.gql(cohortsQuery, { from: '2024-01-01T00:00:00Z', to: '2024-03-01T00:00:00Z', periods: 1, filter: { segment: ['enterprise'] } });
    expect(none.data.retentionCohorts).toEqual({ grain: 'MONTH', cohorts: [], average: [] });
  });

  it('computes period retention and its pooled rate', async () => {
    const q = `{ retentionRateSummary(grain: MONTH, from: "2024-02-01T00:00:00Z", to: "2024-05-01T00:00:00Z", asOf: "${AS_OF}") {
      periods { periodStart previousCustomers retainedCustomers rate churnRate } previousCustomers retainedCustomers pooledRate } }`;
    const r = await svc.gql(q);
    expect(r.errors).toBeUndefined();
    expect(r.data.retentionRateSummary).toEqual({
      periods: [
        { periodStart: '2024-02-01T00:00:00.000Z', previousCustomers: 4, retainedCustomers: 1, rate: 0.25, churnRate: 0.75 },
        { periodStart: '2024-03-01T00:00:00.000Z', previousCustomers: 2, retainedCustomers: 0, rate: 0, churnRate: 1 },
        { periodStart: '2024-04-01T00:00:00.000Z', previousCustomers: 1, retainedCustomers: 0, rate: 0, churnRate: 1 },
      ],
      previousCustomers: 7,
      retainedCustomers: 1,
      pooledRate: 1 / 7,
    });
  });

  it('returns null rates for periods with no previous customers', async () => {
    const r = await svc.gql(`{ retentionRate(grain: YEAR, from: "2030-01-01T00:00:00Z", to: "2031-01-01T00:00:00Z", asOf: "${AS_OF}") { periodStart previousCustomers rate churnRate } }`);
    expect(r.data.retentionRate).toEqual([{ periodStart: '2030-01-01T00:00:00.000Z', previousCustomers: 0, rate: null, churnRate: null }]);
  });

  it('computes repeat purchase rate in the window', async () => {
    const r = await svc.gql(`{ repeatPurchaseRate(from: "2024-01-01T00:00:00Z", to: "2024-03-01T00:00:00Z", asOf: "${AS_OF}") {
      customers repeatCustomers orders rate rateLow rateHigh averageOrdersPerCustomer } }`);
    expect(r.data.repeatPurchaseRate).toMatchObject({ customers: 5, repeatCustomers: 2, orders: 7, rate: 0.4, averageOrdersPerCustomer: 1.4 });
    // 95% Wilson interval of 2 / 5 from published tables: 0.1176 .. 0.7693.
    expect(r.data.repeatPurchaseRate.rateLow).toBeCloseTo(0.1176, 4);
    expect(r.data.repeatPurchaseRate.rateHigh).toBeCloseTo(0.7693, 4);
    const empty = await svc.gql(`{ repeatPurchaseRate(from: "2030-01-01T00:00:00Z", to: "2030-02-01T00:00:00Z") { customers rate averageOrdersPerCustomer } }`);
    expect(empty.data.repeatPurchaseRate).toEqual({ customers: 0, rate: null, averageOrdersPerCustomer: null });
  });

  it('reads an explicit null grain or periods as the defaults', async () => {
    const q = `query($grain: Grain, $periods: Int) { retentionCohorts(grain: $grain, periods: $periods, from: "2024-02-01T00:00:00Z", to: "2024-03-01T00:00:00Z", asOf: "${AS_OF}") {
      grain cohorts { cells { offset } } } }`;
    const r = await svc.gql(q, { grain: null, periods: null });
    expect(r.errors).toBeUndefined();
    // MONTH and 12 periods: c's February cohort has cells for Feb, Mar and Apr (May starts after asOf).
    expect(r.data.retentionCohorts).toEqual({ grain: 'MONTH', cohorts: [{ cells: [{ offset: 0 }, { offset: 1 }, { offset: 2 }] }] });
  });

  it('rejects bad arguments with specific messages', async () => {
    const tooMany = await svc.gql(`{ retentionCohorts(from: "2024-01-01T00:00:00Z", to: "2024-03-01T00:00:00Z", periods: 121) { grain } }`);
    expect(tooMany.errors[0].message).toBe('"periods" must be an integer from 0 to 120 (got 121)');
    expect(tooMany.errors[0].extensions.code).toBe('BAD_USER_INPUT');
    const badZone = await svc.gql(`{ retentionRate(from: "2024-01-01T00:00:00Z", to: "2024-03-01T00:00:00Z", timezone: "Mars/Olympus") { rate } }`);
    expect(badZone.errors[0].message).toBe('"timezone" must be an IANA zone name such as "Europe/Berlin" or "UTC" (got "Mars/Olympus")');
    // Zone names in another case are the same zones (the engine loads a zone only by its exact name).
    for (const [given, exact] of [['utc', 'UTC'], ['asia/kathmandu', 'Asia/Kathmandu'], ['AMERICA/NEW_YORK', 'America/New_York'], ['us/eastern', 'America/New_York'], ['Asia/Kolkata', 'Asia/Calcutta']] as const) {
      const doc = (zone: string) => `{ retentionRate(from: "2024-01-01T00:00:00Z", to: "2024-05-01T00:00:00Z", timezone: "${zone}") { periodStart previousCustomers retainedCustomers } nps(from: "2024-01-01T00:00:00Z", to: "2024-05-01T00:00:00Z", timezone: "${zone}") { responses } }`;
      const [a, b] = await Promise.all([svc.gql(doc(given)), svc.gql(doc(exact))]);
      expect(a.errors, given).toBeUndefined();
      expect(a.data).toEqual(b.data);
    }
    // Names that are no IANA zone, though Intl reads some of them (BST as Asia/Dhaka, MIT as Pacific/Apia).
    for (const zone of ['BST', 'mit', 'SystemV/AST4']) {
      const r = await svc.gql(`{ retentionRate(from: "2024-01-01T00:00:00Z", to: "2024-03-01T00:00:00Z", timezone: "${zone}") { rate } }`);
      expect(r.errors[0].extensions, zone).toMatchObject({ code: 'BAD_USER_INPUT', field: 'timezone' });
    }
    const noZone = await svc.gql(`{ repeatPurchaseRate(from: "2024-01-01T00:00:00", to: "2024-03-01T00:00:00Z") { rate } }`);
    expect(noZone.errors[0].message).toBe('DateTime cannot represent "2024-01-01T00:00:00": it names no zone; end it with "Z" or an offset such as "+02:00"');
  });
});
