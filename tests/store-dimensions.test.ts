import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKpiClient, RepeatPurchaseRateDocument, StoreDimensionsDocument, type KpiWarning } from '../client/index.js';
import { insertProfiles, insertPurchases } from './helpers/events.js';
import { startTestService, type TestService } from './helpers/service.js';

const WINDOW = 'from: "2025-01-01T00:00:00Z", to: "2025-04-01T00:00:00Z", asOf: "2025-06-01T00:00:00Z"';

describe('storeDimensions and filter values', () => {
  let svc: TestService;

  beforeAll(async () => {
    svc = await startTestService('t_store_dimensions');
    // Latest profiles as of 2025-06-01: a DE/email/smb, b DE/ads/-, c FR/email/smb, d -/email/enterprise.
    // e's only profile, and b's move to AT, come after that asOf.
    await insertProfiles(svc.exec, [
      ['a', '2025-01-01T00:00:00Z', 'FR', 'ads', null],
      ['a', '2025-02-01T00:00:00Z', 'DE', 'email', 'smb'],
      ['b', '2025-01-01T00:00:00Z', 'DE', 'ads', null],
      ['b', '2025-07-01T00:00:00Z', 'AT', 'ads', null],
      ['c', '2025-01-01T00:00:00Z', 'FR', 'email', 'smb'],
      ['d', '2025-01-01T00:00:00Z', null, 'email', 'enterprise'],
      ['e', '2025-08-01T00:00:00Z', 'IT', 'tv', 'vip'],
    ]);
    await insertPurchases(svc.exec, [
      ['a', '2025-01-05T00:00:00Z', '10', 'EUR'], ['a', '2025-02-05T00:00:00Z', '10', 'EUR'], ['b', '2025-01-05T00:00:00Z', '10', 'EUR'],
      ['c', '2025-01-05T00:00:00Z', '10', 'USD'], ['c', '2025-03-05T00:00:00Z', '10', 'CHF'],
      ['d', '2025-09-01T00:00:00Z', '10', 'JPY'],
    ]);
    await svc.exec.insert(
      'survey_responses',
      [
        ['s1', 'a', 'nps-q1'], ['s2', 'b', 'nps-q1'], ['s3', 'a', 'csat-web'], ['s4', 'a', 'csat-web'], ['s5', 'c', 'nps-q2'],
      ].map(([id, customer, survey]) => ({ event_id: id, customer_id: customer, survey_id: survey, kind: 'NPS', score: 9, occurred_at: '2025-03-01 00:00:00.000', comment: null })),
      { requestId: 'fixture' },
    );
  });
  afterAll(async () => {
    await svc?.stop();
  });

  it('lists the values present as of asOf, most common first, ties in code order', async () => {
    const res = await svc.gql('{ storeDimensions(asOf: "2025-06-01T00:00:00Z") { currencies countries channels segments surveyIds } }');
    expect(res.errors).toBeUndefined();
    expect(res.data.storeDimensions).toEqual({
      currencies: ['EUR', 'CHF', 'USD'], // purchases: EUR 3, CHF 1, USD 1; JPY only after asOf
      countries: ['DE', 'FR'], // DE: a, b; FR: c (a moved away from FR); b's AT and e's IT come later
      channels: ['email', 'ads'], // email: a, c, d; ads: b
      segments: ['smb', 'enterprise'], // smb: a, c; enterprise: d
      surveyIds: ['nps-q1', 'csat-web', 'nps-q2'], // nps-q1: a, b; csat-web: a (twice); nps-q2: c
    });
  });

  it('refuses a country that is not an ISO 3166 alpha-2 code, naming the filter field', async () => {
    const res = await svc.gql(`{ repeatPurchaseRate(${WINDOW}, filter: { country: ["de"] }) { customers } }`);
    expect(res.data).toBeNull();
    expect(res.errors[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'filter.country' });
    expect(res.errors[0].message).toBe('"filter.country" values must be ISO 3166-1 alpha-2 codes in upper case, such as "DE" (got "de")');
  });

  it('refuses an empty filter list, naming the filter field', async () => {
    const res = await svc.gql(`{ retentionRate(${WINDOW}, filter: { channel: [] }) { rate } }`);
    expect(res.data).toBeNull();
    expect(res.errors[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'filter.channel' });
    expect(res.errors[0].message).toContain('"filter.channel" is an empty list');
  });

  it('answers a channel no customer has, with a warning listing the known channels', async () => {
    const res = await svc.gql(`{ repeatPurchaseRate(${WINDOW}, filter: { channel: ["emial", "ads"] }) { customers } }`);
    expect(res.errors).toBeUndefined();
    expect(res.data.repeatPurchaseRate).toEqual({ customers: 1 }); // b, the one ads customer with purchases in the window
    expect(res.extensions.warnings).toEqual([
      {
        code: 'UNKNOWN_FILTER_VALUE',
        field: 'filter.channel',
        message: expect.stringContaining('"emial"'),
        knownValues: ['email', 'ads'],
      },
    ]);
  });

  it('judges filter values by the latest profile as of asOf', async () => {
    // "tv" and "vip" exist, but only after this asOf; "AT" only for b after it.
    const res = await svc.gql(`{ retentionCohorts(${WINDOW}, filter: { segment: ["vip"], country: ["AT", "DE"] }) { cohorts { size } } }`);
    expect(res.errors).toBeUndefined();
    const warnings = res.extensions.warnings as { field: string; message: string; knownValues: string[] }[];
    expect(warnings.map((w) => [w.field, w.knownValues])).toEqual([
      ['filter.country', ['DE', 'FR']],
      ['filter.segment', ['smb', 'enterprise']],
    ]);
    expect(warnings[0]!.message).toContain('"AT"');
    expect(warnings[0]!.message).not.toContain('"DE"');
  });

  it('adds no warning when every filter value is known', async () => {
    const res = await svc.gql(`{ repeatPurchaseRate(${WINDOW}, filter: { channel: ["ads"], country: ["DE"] }) { customers } }`);
    expect(res.errors).toBeUndefined();
    expect(res.extensions?.warnings).toBeUndefined();
  });

  it('reaches typed clients: storeDimensions as a document, warnings through onWarnings', async () => {
    const warnings: KpiWarning[] = [];
    const client = createKpiClient({ url: `${svc.url}/graphql`, onWarnings: (w) => warnings.push(...w) });
    const { storeDimensions } = await client.request(StoreDimensionsDocument, { asOf: '2025-06-01T00:00:00Z' });
    expect(storeDimensions.channels).toEqual(['email', 'ads']);
    expect(warnings).toEqual([]);
    const range = { from: '2025-01-01T00:00:00Z', to: '2025-04-01T00:00:00Z', asOf: '2025-06-01T00:00:00Z' };
    const { repeatPurchaseRate } = await client.request(RepeatPurchaseRateDocument, { ...range, filter: { segment: ['SMB'] } });
    expect(repeatPurchaseRate.customers).toBe(0);
    expect(warnings.map((w) => [w.code, w.field, w.knownValues])).toEqual([['UNKNOWN_FILTER_VALUE', 'filter.segment', ['smb', 'enterprise']]]);
  });
});
