import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Grain } from '../loaders/grain.js';
import { npsImpactSql, voiceSeriesSql } from '../loaders/voice.sql.js';
import { insertProfiles, insertPurchases } from './helpers/events.js';
import { startTestService, type TestService } from './helpers/service.js';

// Hand-computed fixture. NPS survey q1:
//   January (UTC): n1 10, n2 9, n3 9, n4 9, n5 10, n6 8, n7 7, n8 6 (Jan 31 23:30Z = Feb 1 in Berlin), n9 0, n10 3
//                  → 10 responses: promoters 5 (n1-n5), passives 2 (n6, n7), detractors 3 (n8-n10)
//   February: n1 6 (n1's latest response becomes a detractor's)
//   April 20 00:00Z, after asOf: n2 0
// NPS survey edge: e6 6 at exactly Mar 1 00:00Z, e7 7 (Mar 2), e8 8 (Mar 3), e9 9 (Mar 4).
// CSAT survey sat: k1 3 (Jan 10), k2 4 (Jan 11), k3 5 (Feb 3), k4 1 (Feb 29 23:30Z = Mar 1 in Berlin), k5 5 (Apr 20, after asOf).
// Profiles: n1-n5 in US, n6 in DE.
const AS_OF = '2024-04-15T00:00:00.000Z';
const JAN = '2024-01-01T00:00:00Z';
const FEB = '2024-02-01T00:00:00Z';
const MAY = '2024-05-01T00:00:00Z';

let seq = 0;
const survey = (kind: 'NPS' | 'CSAT', surveyId: string, customerId: string, score: number, occurredAt: string) => ({
  eventId: `sv-${++seq}`, customerId, surveyId, kind, score, occurredAt,
});

const INGEST = `mutation($events: [SurveyResponseInput!]!) { ingestSurveyResponses(events: $events) { accepted duplicates rejected { line errors } } }`;

const NPS = `query($from: DateTime!, $to: DateTime!, $asOf: DateTime, $grain: Grain, $surveyId: String, $tz: String, $filter: CustomerFilter) {
  nps(from: $from, to: $to, asOf: $asOf, grain: $grain, surveyId: $surveyId, timezone: $tz, filter: $filter) {
    responses promoters passives detractors score marginOfError
    series { periodStart responses promoters passives detractors score }
  }
}`;

const CSAT = `query($from: DateTime!, $to: DateTime!, $asOf: DateTime, $surveyId: String, $tz: String) {
  csat(from: $from, to: $to, asOf: $asOf, surveyId: $surveyId, timezone: $tz) { responses satisfied score series { periodStart responses satisfied score } }
}`;

const IMPACT = `query($from: DateTime!, $to: DateTime!, $asOf: DateTime, $currency: String) {
  npsImpact(from: $from, to: $to, asOf: $asOf, surveyId: "q1", currency: $currency) {
    currency
    promoters { customers repeatCustomers repeatRate revenuePerCustomer ordersPerCustomer }
    passives { customers repeatCustomers repeatRate revenuePerCustomer ordersPerCustomer }
    detractors { customers repeatCustomers repeatRate revenuePerCustomer ordersPerCustomer }
  }
}`;

describe('voice of the customer KPIs', () => {
  let svc: TestService;
  let retry: { accepted: number; duplicates: number; rejected: unknown[] };

  async function nps(vars: Record<string, unknown>) {
    const r = await svc.gql(NPS, { asOf: AS_OF, ...vars });
    expect(r.errors).toBeUndefined();
    return r.data.nps;
  }

  beforeAll(async () => {
    svc = await startTestService('t_voice');
    const q1 = (c: string, s: number, at: string) => survey('NPS', 'q1', c, s, at);
    const events = [
      q1('n1', 10, '2024-01-05T10:00:00Z'), q1('n2', 9, '2024-01-06T10:00:00Z'), q1('n3', 9, '2024-01-07T10:00:00Z'),
      q1('n4', 9, '2024-01-08T10:00:00Z'), q1('n5', 10, '2024-01-09T10:00:00Z'), q1('n6', 8, '2024-01-10T10:00:00Z'),
      q1('n7', 7, '2024-01-11T10:00:00Z'), q1('n8', 6, '2024-01-31T23:30:00Z'), q1('n9', 0, '2024-01-12T10:00:00Z'),
      q1('n10', 3, '2024-01-13T10:00:00Z'),
      q1('n1', 6, '2024-02-10T10:00:00Z'),
      q1('n2', 0, '2024-04-20T00:00:00Z'),
      survey('NPS', 'edge', 'e6', 6, '2024-03-01T00:00:00Z'), survey('NPS', 'edge', 'e7', 7, '2024-03-02T00:00:00Z'),
      survey('NPS', 'edge', 'e8', 8, '2024-03-03T00:00:00Z'), survey('NPS', 'edge', 'e9', 9, '2024-03-04T00:00:00Z'),
      survey('CSAT', 'sat', 'k1', 3, '2024-01-10T10:00:00Z'), survey('CSAT', 'sat', 'k2', 4, '2024-01-11T10:00:00Z'),
      survey('CSAT', 'sat', 'k3', 5, '2024-02-03T10:00:00Z'), survey('CSAT', 'sat', 'k4', 1, '2024-02-29T23:30:00Z'),
      survey('CSAT', 'sat', 'k5', 5, '2024-04-20T10:00:00Z'),
    ];
    const stored = await svc.gql(INGEST, { events });
    expect(stored.data.ingestSurveyResponses).toEqual({ accepted: events.length, duplicates: 0, rejected: [] });
    // A retry of n9's response with another score: the first stored version must win.
    const again = await svc.gql(INGEST, { events: [{ ...events[8], score: 10 }] });
    retry = again.data.ingestSurveyResponses;

    await insertPurchases(svc.exec, [
      ['n1', '2024-01-20T10:00:00Z', '0.1'], ['n1', '2024-02-20T10:00:00Z', '0.2'],
      ['n2', '2024-01-02T10:00:00Z', '100'], ['n2', '2024-02-02T10:00:00Z', '50', 'EUR'], ['n2', '2024-03-03T10:00:00Z', '0.0001'],
      ['n3', '2024-01-15T10:00:00Z', '40'],
      ['n4', '2024-04-20T10:00:00Z', '25'], // after asOf
      ['n6', '2023-01-15T10:00:00Z', '15'], ['n6', '2024-02-01T10:00:00Z', '15'],
      ['n8', '2024-03-10T10:00:00Z', '5', 'EUR'],
    ]);
    await insertProfiles(svc.exec, ['n1', 'n2', 'n3', 'n4', 'n5', 'n6'].map((c) => [c, '2024-01-01T00:00:00Z', c === 'n6' ? 'DE' : 'US', null, null]));
  });
  afterAll(async () => {
    await svc?.stop();
  });

  it('classifies 6 as detractor, 7 and 8 as passives, 9 as promoter', async () => {
    // n = 4, p = d = 0.25: 196 x sqrt((0.5 - 0) / 4) = 196 / sqrt(8) = 49 x sqrt(2)
    expect(await nps({ from: JAN, to: MAY, surveyId: 'edge' })).toEqual({
      responses: 4, promoters: 1, passives: 2, detractors: 1, score: 0, marginOfError: expect.closeTo(49 * Math.SQRT2, 9),
      series: [{ periodStart: '2024-03-01T00:00:00.000Z', responses: 4, promoters: 1, passives: 2, detractors: 1, score: 0 }],
    });
  });

  it('scores the window with its margin of error', async () => {
    // January q1: n = 10, p = 0.5, d = 0.3. score = 100 x (5 - 3) / 10 = 20.
    // margin = 100 x 1.96 x sqrt((0.8 - 0.2^2) / 10) = 196 x sqrt(0.076) = 196 x 0.2756810 = 54.0334711
    const r = await nps({ from: JAN, to: FEB, surveyId: 'q1' });
    expect(r).toMatchObject({ responses: 10, promoters: 5, passives: 2, detractors: 3, score: 20 });
    expect(r.marginOfError).toBeCloseTo(54.0334711, 6);
  });

  it('counts a retried response once, with its first stored score', async () => {
    expect(retry).toEqual({ accepted: 0, duplicates: 1, rejected: [] });
    // Had the retry (n9: 10) counted, January would have 11 responses; had it replaced the 0, 6 promoters.
    expect(await nps({ from: JAN, to: FEB, surveyId: 'q1' })).toMatchObject({ responses: 10, promoters: 5, detractors: 3 });
  });

  it('has no margin of error for a single response, and a half-open window', async () => {
    // [Mar 1, Mar 2) holds e6 (at exactly Mar 1 00:00Z) but not e7 (exactly Mar 2 00:00Z).
    expect(await nps({ from: '2024-03-01T00:00:00Z', to: '2024-03-02T00:00:00Z', surveyId: 'edge' })).toEqual({
      responses: 1, promoters: 0, passives: 0, detractors: 1, score: -100, marginOfError: null,
      series: [{ periodStart: '2024-03-01T00:00:00.000Z', responses: 1, promoters: 0, passives: 0, detractors: 1, score: -100 }],
    });
  });

  it('builds a monthly series in UTC and in a named zone', async () => {
    // UTC: Jan = the 10 January responses; Feb = n1's 6. Totals n = 11, p = 5/11, d = 4/11, score = 100/11.
    expect(await nps({ from: JAN, to: MAY, surveyId: 'q1', grain: 'MONTH' })).toEqual({
      responses: 11, promoters: 5, passives: 2, detractors: 4, score: 100 / 11, // p = 5/11, d = 4/11: ((9/11) - (1/11)^2) / 11 = 98/1331, so 196 x sqrt(98/1331) = 1372 x sqrt(22) / 121
      marginOfError: expect.closeTo((1372 * Math.sqrt(22)) / 121, 9),
      series: [
        { periodStart: '2024-01-01T00:00:00.000Z', responses: 10, promoters: 5, passives: 2, detractors: 3, score: 20 },
        { periodStart: '2024-02-01T00:00:00.000Z', responses: 1, promoters: 0, passives: 0, detractors: 1, score: -100 },
      ],
    });
    // Berlin: n8's Jan 31 23:30Z response is in February local time: Jan 9 responses (5, 2, 2), Feb 2 detractors.
    const berlin = await nps({ from: '2023-12-31T23:00:00Z', to: '2024-04-30T22:00:00Z', surveyId: 'q1', tz: 'Europe/Berlin' });
    expect(berlin.series).toEqual([
      { periodStart: '2023-12-31T23:00:00.000Z', responses: 9, promoters: 5, passives: 2, detractors: 2, score: 100 / 3 },
      { periodStart: '2024-01-31T23:00:00.000Z', responses: 2, promoters: 0, passives: 0, detractors: 2, score: -100 },
    ]);
    expect(berlin.responses).toBe(11);
  });

  it('counts nothing after asOf, and a response at exactly asOf', async () => {
    // n2's 0 at 2024-04-20T00:00Z: out one millisecond before, in at that instant (12 responses, 5 detractors).
    const before = await nps({ from: JAN, to: MAY, surveyId: 'q1', asOf: '2024-04-19T23:59:59.999Z' });
    expect(before).toMatchObject({ responses: 11, detractors: 4 });
    const at = await nps({ from: JAN, to: MAY, surveyId: 'q1', asOf: '2024-04-20T00:00:00Z' });
    expect(at).toMatchObject({ responses: 12, promoters: 5, passives: 2, detractors: 5, score: 0 });
    expect(at.series.at(-1)).toEqual({ periodStart: '2024-04-01T00:00:00.000Z', responses: 1, promoters: 0, passives: 0, detractors: 1, score: -100 });
  });

  it('filters by survey and by customer', async () => {
    // All NPS surveys: q1 (11: 5, 2, 4) + edge (4: 1, 2, 1) = 15 responses (6, 4, 5); CSAT responses never count.
    expect(await nps({ from: JAN, to: MAY })).toMatchObject({ responses: 15, promoters: 6, passives: 4, detractors: 5, score: 100 / 15 });
    expect(await nps({ from: JAN, to: MAY, surveyId: 'nope' })).toMatchObject({ responses: 0, score: null });
    // US customers n1-n5: five January promoters and n1's February 6 → n = 6, score = 100 x 4 / 6.
    expect(await nps({ from: JAN, to: MAY, filter: { country: ['US'] } })).toMatchObject({
      responses: 6, promoters: 5, passives: 0, detractors: 1, score: 400 / 6, // p = 5/6, d = 1/6: (1 - (4/6)^2) / 6 = 5/54
      marginOfError: expect.closeTo(196 * Math.sqrt(5 / 54), 9),
    });
  });

  it('scores CSAT with 4 and 5 as satisfied, in UTC and in a named zone', async () => {
    // k1's 3 is not satisfied, k2's 4 is; k5 is after asOf; NPS responses never count.
    const utc = await svc.gql(CSAT, { from: JAN, to: MAY, asOf: AS_OF, surveyId: 'sat' });
    expect(utc.errors).toBeUndefined();
    expect(utc.data.csat).toEqual({
      responses: 4, satisfied: 2, score: 50,
      series: [
        { periodStart: '2024-01-01T00:00:00.000Z', responses: 2, satisfied: 1, score: 50 },
        { periodStart: '2024-02-01T00:00:00.000Z', responses: 2, satisfied: 1, score: 50 },
      ],
    });
    // Berlin: k4 (Feb 29 23:30Z) falls in March local time.
    const berlin = await svc.gql(CSAT, { from: '2023-12-31T23:00:00Z', to: '2024-04-30T22:00:00Z', asOf: AS_OF, tz: 'Europe/Berlin' });
    expect(berlin.data.csat.series).toEqual([
      { periodStart: '2023-12-31T23:00:00.000Z', responses: 2, satisfied: 1, score: 50 },
      { periodStart: '2024-01-31T23:00:00.000Z', responses: 1, satisfied: 1, score: 100 },
      { periodStart: '2024-02-29T23:00:00.000Z', responses: 1, satisfied: 0, score: 0 },
    ]);
  });

  it('answers an empty window with zero counts, null scores and an empty series', async () => {
    const window = { from: '2025-01-01T00:00:00Z', to: '2025-02-01T00:00:00Z', asOf: '2025-06-01T00:00:00Z' };
    expect(await nps(window)).toEqual({ responses: 0, promoters: 0, passives: 0, detractors: 0, score: null, marginOfError: null, series: [] });
    const csat = await svc.gql(CSAT, window);
    expect(csat.data.csat).toEqual({ responses: 0, satisfied: 0, score: null, series: [] });
    const impact = await svc.gql(IMPACT, window);
    const empty = { customers: 0, repeatCustomers: 0, repeatRate: null, revenuePerCustomer: null, ordersPerCustomer: null };
    expect(impact.data.npsImpact).toEqual({ currency: 'USD', promoters: empty, passives: empty, detractors: empty });
  });

  it('relates each customer\'s latest NPS bucket to their purchases up to asOf', async () => {
    // [Jan 1, Apr 1), latest q1 response per customer: promoters n2-n5, passives n6 n7, detractors n1 (Feb 6) n8 n9 n10.
    // Promoters: orders n2 3 + n3 1 (n4's is after asOf) = 4; repeat n2; USD 100 + 0.0001 + 40 = 140.0001 / 4.
    // Passives: n6's 2 orders (one before the window still counts) = USD 30 / 2.
    // Detractors: n1 2 orders (USD 0.1 + 0.2, exactly 0.3 in Decimal), n8 1 (EUR) → 3 orders, USD 0.3 / 4 = 0.075.
    const usd = await svc.gql(IMPACT, { from: JAN, to: '2024-04-01T00:00:00Z', asOf: AS_OF });
    expect(usd.errors).toBeUndefined();
    expect(usd.data.npsImpact).toEqual({
      currency: 'USD',
      promoters: { customers: 4, repeatCustomers: 1, repeatRate: 0.25, revenuePerCustomer: 35.000025, ordersPerCustomer: 1 },
      passives: { customers: 2, repeatCustomers: 1, repeatRate: 0.5, revenuePerCustomer: 15, ordersPerCustomer: 1 },
      detractors: { customers: 4, repeatCustomers: 1, repeatRate: 0.25, revenuePerCustomer: 0.075, ordersPerCustomer: 0.75 },
    });
    // EUR revenue: n2's 50 among promoters, n8's 5 among detractors.
    const eur = await svc.gql(IMPACT, { from: JAN, to: '2024-04-01T00:00:00Z', asOf: AS_OF, currency: 'EUR' });
    expect([eur.data.npsImpact.promoters.revenuePerCustomer, eur.data.npsImpact.passives.revenuePerCustomer, eur.data.npsImpact.detractors.revenuePerCustomer])
      .toEqual([12.5, 0, 1.25]);
    // January only: n1's latest response is the 10, so n1 is a promoter: n1-n5, orders 2 + 3 + 1 = 6, repeat n1 n2.
    const jan = await svc.gql(IMPACT, { from: JAN, to: FEB, asOf: AS_OF });
    expect(jan.data.npsImpact.promoters).toEqual({ customers: 5, repeatCustomers: 2, repeatRate: 0.4, revenuePerCustomer: 140.3001 / 5, ordersPerCustomer: 6 / 5 });
    expect(jan.data.npsImpact.detractors).toEqual({ customers: 3, repeatCustomers: 0, repeatRate: 0, revenuePerCustomer: 0, ordersPerCustomer: 1 / 3 });
  });

  it('rejects a malformed currency before running any SQL', async () => {
    const r = await svc.gql(IMPACT, { from: JAN, to: FEB, asOf: AS_OF, currency: 'usd' });
    expect(r.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });
});

describe('voice SQL builders', () => {
  it('bind every request value as a parameter', () => {
    const hostile = "q1' OR 1=1 --";
    const window = { from: new Date(JAN), to: new Date(FEB), asOf: new Date(AS_OF), surveyId: hostile, filter: { segment: [hostile] } };
    for (const q of [voiceSeriesSql('CSAT', { ...window, grain: Grain.WEEK, timezone: 'Europe/Berlin' }), npsImpactSql({ ...window, currency: 'EUR' })]) {
      expect(q.query).not.toContain(hostile);
      expect(q.query).not.toContain('Europe/Berlin');
      expect(q.query).not.toContain('EUR');
      expect(q.query_params.surveyId).toBe(hostile);
    }
  });
});
