import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertPurchases } from './helpers/events.js';
import { startTestService, type TestService } from './helpers/service.js';

// Hand-computed fixture (UTC). Referrals, as [referralId, stage, occurredAt, referredCustomerId?]:
//   R4: INVITED Jan 05 naming c4; c4 first bought Dec 20 2023, before the referral → not converted
//   R1: INVITED Jan 10, CLICKED Jan 11, SIGNED_UP Jan 12 (c1); c1 first buys Jan 15 12:00:00.123
//       → converted after 475 200 123 ms = 5.50000142… days
//   R2: no INVITED; CLICKED Jan 20 00:00, SIGNED_UP Jan 21 (c2); c2 first buys Apr 19 00:00:00.000,
//       exactly Jan 20 + 90 x 24 h → converted, 90 days
//   R3: INVITED Jan 25 00:00, SIGNED_UP Jan 26 (c3); c3 first buys Apr 24 00:00:01, one second
//       past the window end → not converted
//   R5: SIGNED_UP Feb 03 00:00 (c5) before CLICKED Feb 04, no INVITED → clicked and signed up;
//       c5 first buys Feb 05 06:00 → converted, 2.25 days
//   R6: INVITED Feb 10 naming c6; R7: INVITED Feb 20, SIGNED_UP Feb 21 naming c6 as well;
//       c6 first buys Feb 22 → both converted, 12 and 2 days
//   R8: INVITED Feb 29 23:30Z, which is Mar 01 00:30 in Berlin
//   R9: INVITED Mar 05; CLICKED Jun 10 and SIGNED_UP Jun 11 (c9) after asOf; c9 buys Jun 12 (after asOf)
//   R10: INVITED Jun 05, after asOf: does not exist yet
const AS_OF = '2024-06-01T00:00:00.000Z';
const DAY = 86_400_000;
const C1_DAYS = 475_200_123 / DAY;

type ReferralRow = [string, 'INVITED' | 'CLICKED' | 'SIGNED_UP', string, string?];

async function insertReferrals(svc: TestService, rows: ReferralRow[]): Promise<void> {
  await svc.exec.insert(
    'referrals',
    rows.map(([referral, stage, at, referred], i) => ({
      event_id: `ref-${i}`,
      referral_id: referral,
      stage,
      referrer_id: 'referrer',
      referred_customer_id: referred ?? null,
      occurred_at: new Date(at).toISOString().replace('T', ' ').replace('Z', ''),
      channel: null,
    })),
    { requestId: 'test-fixture' },
  );
}

describe('referral KPIs', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService('t_referral');
    await insertReferrals(svc, [
      ['R4', 'INVITED', '2024-01-05T00:00:00Z', 'c4'],
      ['R1', 'INVITED', '2024-01-10T00:00:00Z'], ['R1', 'CLICKED', '2024-01-11T00:00:00Z'], ['R1', 'SIGNED_UP', '2024-01-12T00:00:00Z', 'c1'],
      ['R2', 'CLICKED', '2024-01-20T00:00:00Z'], ['R2', 'SIGNED_UP', '2024-01-21T00:00:00Z', 'c2'],
      ['R3', 'INVITED', '2024-01-25T00:00:00Z'], ['R3', 'SIGNED_UP', '2024-01-26T00:00:00Z', 'c3'],
      ['R5', 'SIGNED_UP', '2024-02-03T00:00:00Z', 'c5'], ['R5', 'CLICKED', '2024-02-04T00:00:00Z'],
      ['R6', 'INVITED', '2024-02-10T00:00:00Z', 'c6'],
      ['R7', 'INVITED', '2024-02-20T00:00:00Z'], ['R7', 'SIGNED_UP', '2024-02-21T00:00:00Z', 'c6'],
      ['R8', 'INVITED', '2024-02-29T23:30:00Z'],
      ['R9', 'INVITED', '2024-03-05T00:00:00Z'], ['R9', 'CLICKED', '2024-06-10T00:00:00Z'], ['R9', 'SIGNED_UP', '2024-06-11T00:00:00Z', 'c9'],
      ['R10', 'INVITED', '2024-06-05T00:00:00Z'],
    ]);
    // Organic: o1 and o2. o2's USD amounts 0.1 + 0.2 sum to 0.3 only in exact decimal arithmetic.
    await insertPurchases(svc.exec, [
      ['c1', '2024-01-15T12:00:00.123Z', '10.10'], ['c1', '2024-02-20T00:00:00Z', '5.05'], ['c1', '2024-06-15T00:00:00Z', '100'],
      ['c2', '2024-04-19T00:00:00.000Z', '20'],
      ['c3', '2024-04-24T00:00:01Z', '7.5'], ['c3', '2024-05-01T00:00:00Z', '7.5'],
      ['c4', '2023-12-20T00:00:00Z', '15'], ['c4', '2024-01-10T00:00:00Z', '15'],
      ['c5', '2024-02-05T06:00:00Z', '8', 'EUR'], ['c5', '2024-02-07T00:00:00Z', '12.3456'],
      ['c6', '2024-02-22T00:00:00Z', '40'],
      ['c9', '2024-06-12T00:00:00Z', '9'],
      ['o1', '2024-01-08T00:00:00Z', '20'], ['o1', '2024-03-01T00:00:00Z', '30'],
      ['o2', '2024-02-15T00:00:00Z', '50', 'EUR'], ['o2', '2024-02-16T00:00:00Z', '0.1'], ['o2', '2024-02-17T00:00:00Z', '0.2'],
    ]);
  });
  afterAll(async () => {
    await svc?.stop();
  });

  const cohortsQuery = `query($from: DateTime!, $to: DateTime!, $tz: String, $days: Int, $asOf: DateTime) {
    referralConversionCohorts(from: $from, to: $to, timezone: $tz, attributionWindowDays: $days, asOf: $asOf) {
      cohortStart invited clicked signedUp converted clickRate signupRate conversionRate medianDaysToConvert
    }
  }`;

  it('groups referrals by the month they started, oldest first, with exact medians', async () => {
    const r = await svc.gql(cohortsQuery, { from: '2024-01-01T00:00:00Z', to: '2024-07-01T00:00:00Z', asOf: AS_OF });
    expect(r.errors).toBeUndefined();
    expect(r.data.referralConversionCohorts).toEqual([
      // R4 R1 R2 R3: R4 has no click; R2 has no INVITED; converted R1 and R2 → median of an even count.
      {
        cohortStart: '2024-01-01T00:00:00.000Z', invited: 4, clicked: 3, signedUp: 3, converted: 2,
        clickRate: 0.75, signupRate: 0.75, conversionRate: 0.5, medianDaysToConvert: (C1_DAYS + 90) / 2,
      },
      // R5 R6 R7 R8: converted R5 (2.25) R6 (12) R7 (2) → median of an odd count is 2.25.
      {
        cohortStart: '2024-02-01T00:00:00.000Z', invited: 4, clicked: 2, signedUp: 2, converted: 3,
        clickRate: 0.5, signupRate: 0.5, conversionRate: 0.75, medianDaysToConvert: 2.25,
      },
      // R9: its click and signup come after asOf; R10 started after asOf and is not there at all.
      {
        cohortStart: '2024-03-01T00:00:00.000Z', invited: 1, clicked: 0, signedUp: 0, converted: 0,
        clickRate: 0, signupRate: 0, conversionRate: 0, medianDaysToConvert: null,
      },
    ]);
  });

  it('lets asOf decide which events count', async () => {
    const r = await svc.gql(cohortsQuery, { from: '2024-03-01T00:00:00Z', to: '2024-07-01T00:00:00Z', asOf: '2024-07-01T00:00:00Z' });
    expect(r.errors).toBeUndefined();
    expect(r.data.referralConversionCohorts.map((c: any) => [c.cohortStart, c.invited, c.clicked, c.signedUp, c.converted, c.medianDaysToConvert])).toEqual([
      // R9 converts: c9 first buys Jun 12, 99 days after Mar 05 — outside 90 days.
      ['2024-03-01T00:00:00.000Z', 1, 1, 1, 0, null],
      ['2024-06-01T00:00:00.000Z', 1, 0, 0, 0, null],
    ]);
  });

  it('moves cohort boundaries to local midnight in a named zone', async () => {
    const r = await svc.gql(cohortsQuery, { from: '2023-12-31T23:00:00Z', to: '2024-06-30T22:00:00Z', tz: 'Europe/Berlin', asOf: AS_OF });
    expect(r.errors).toBeUndefined();
    expect(r.data.referralConversionCohorts.map((c: any) => [c.cohortStart, c.invited, c.clicked, c.converted, c.medianDaysToConvert])).toEqual([
      ['2023-12-31T23:00:00.000Z', 4, 3, 2, (C1_DAYS + 90) / 2],
      // R8 (Feb 29 23:30Z) belongs to March in Berlin.
      ['2024-01-31T23:00:00.000Z', 3, 2, 3, 2.25],
      ['2024-02-29T23:00:00.000Z', 2, 0, 0, null],
    ]);
  });

  it('applies the attribution window and keeps only periods starting in [from, to)', async () => {
    // 5 days: R1 (5.5 days) and R6 (12) miss it; R5 (2.25) and R7 (2) convert → median (2 + 2.25) / 2.
    const r = await svc.gql(cohortsQuery, { from: '2024-01-15T00:00:00Z', to: '2024-03-01T00:00:00Z', days: 5, asOf: AS_OF });
    expect(r.errors).toBeUndefined();
    expect(r.data.referralConversionCohorts).toEqual([
      {
        cohortStart: '2024-02-01T00:00:00.000Z', invited: 4, clicked: 2, signedUp: 2, converted: 2,
        clickRate: 0.5, signupRate: 0.5, conversionRate: 0.5, medianDaysToConvert: 2.125,
      },
    ]);
  });

  const impactQuery = `query($from: DateTime!, $to: DateTime!, $currency: String, $asOf: DateTime) {
    referralImpact(from: $from, to: $to, currency: $currency, asOf: $asOf) {
      referred { customers repeatCustomers repeatRate averageRevenue }
      organic { customers repeatCustomers repeatRate averageRevenue }
      kFactor
    }
  }`;

  it('compares referred and organic new customers and computes the k-factor', async () => {
    const r = await svc.gql(impactQuery, { from: '2024-01-01T00:00:00Z', to: '2024-03-01T00:00:00Z', asOf: AS_OF });
    expect(r.errors).toBeUndefined();
    expect(r.data.referralImpact).toEqual({
      // First purchase in Jan-Feb: c1 c5 c6 (referred), o1 o2 (organic); c4 first bought in 2023.
      // c1: 2 purchases by asOf (the third is after it), c5: 2, c6: 1. USD: 10.10 + 5.05 + 12.3456 + 40.
      referred: { customers: 3, repeatCustomers: 2, repeatRate: 2 / 3, averageRevenue: 67.4956 / 3 },
      // o1: 20 + 30 USD, o2: 0.1 + 0.2 USD (its EUR purchase is another currency).
      organic: { customers: 2, repeatCustomers: 2, repeatRate: 1, averageRevenue: 50.3 / 2 },
      // R4 R1 R2 R3 R5 R6 R7 R8 started in the window, 5 of them converted (R1 R2 R5 R6 R7);
      // customers buying in it: c1 c4 c5 c6 o1 o2.
      kFactor: (8 / 6) * (5 / 8),
    });
  });

  it('gives the snapshot the same referral conversion as the impact report', async () => {
    const window = 'from: "2024-01-01T00:00:00Z", to: "2024-03-01T00:00:00Z", asOf: "' + AS_OF + '"';
    const r = await svc.gql(`{ kpiSnapshot(${window}) { referralConversionRate }
      referralImpact(${window}) { referralsStarted referralsConverted conversionRate } }`);
    expect(r.errors).toBeUndefined();
    // Same 8 referrals started in the window, 5 converted, as in the k-factor above.
    expect(r.data.referralImpact).toEqual({ referralsStarted: 8, referralsConverted: 5, conversionRate: 5 / 8 });
    expect(r.data.kpiSnapshot.referralConversionRate).toBe(5 / 8);
  });

  it("gives each month of a kpiSeries its own conversion and new customers, both from one statement for all the months", async () => {
    const texts: string[] = [];
    const stop = svc.exec.observe(({ query }) => texts.push(query));
    const r = await svc.gql(`{ kpiSeries(grain: MONTH, from: "2024-01-01T00:00:00Z", to: "2024-04-01T00:00:00Z", asOf: "${AS_OF}") { from newCustomers referralConversionRate } }`);
    stop();
    expect(r.errors).toBeUndefined();
    expect(r.data.kpiSeries).toEqual([
      // R4 R1 R2 R3 started in January, R1 and R2 converted; c1 and o1 bought first.
      { from: '2024-01-01T00:00:00.000Z', newCustomers: 2, referralConversionRate: 2 / 4 },
      // R5 R6 R7 R8, R5 R6 R7 converted; c5, c6 and o2 bought first.
      { from: '2024-02-01T00:00:00.000Z', newCustomers: 3, referralConversionRate: 3 / 4 },
      // R9 alone, not converted by asOf; nobody bought first.
      { from: '2024-03-01T00:00:00.000Z', newCustomers: 0, referralConversionRate: 0 },
    ]);
    // One statement per windowed part for all three months (each answers `w`, the window's position).
    expect(texts.filter((t) => /^\s*SELECT w, count\(\)/.test(t)).length).toBe(2);
  });

  it('sums revenue in the requested currency', async () => {
    const r = await svc.gql(impactQuery, { from: '2024-01-01T00:00:00Z', to: '2024-03-01T00:00:00Z', currency: 'EUR', asOf: AS_OF });
    expect(r.errors).toBeUndefined();
    expect(r.data.referralImpact.referred.averageRevenue).toBe(8 / 3);
    expect(r.data.referralImpact.organic.averageRevenue).toBe(25);
  });

  it('returns nulls for empty windows', async () => {
    const r = await svc.gql(impactQuery, { from: '2025-01-01T00:00:00Z', to: '2025-02-01T00:00:00Z', asOf: AS_OF });
    expect(r.errors).toBeUndefined();
    const empty = { customers: 0, repeatCustomers: 0, repeatRate: null, averageRevenue: null };
    expect(r.data.referralImpact).toEqual({ referred: empty, organic: empty, kFactor: null });
    const c = await svc.gql(cohortsQuery, { from: '2025-01-01T00:00:00Z', to: '2025-02-01T00:00:00Z', asOf: AS_OF });
    expect(c.data.referralConversionCohorts).toEqual([]);
  });

  it('selects referred and organic customers with the referred filter', async () => {
    const q = `query($referred: Boolean) {
      repeatPurchaseRate(from: "2024-01-01T00:00:00Z", to: "2024-07-01T00:00:00Z", asOf: "${AS_OF}", filter: { referred: $referred }) {
        customers repeatCustomers orders
      }
    }`;
    // Referred: c1 (2 orders by asOf), c2 (1, converted at the window end), c5 (2), c6 (1).
    const referred = await svc.gql(q, { referred: true });
    expect(referred.errors).toBeUndefined();
    expect(referred.data.repeatPurchaseRate).toEqual({ customers: 4, repeatCustomers: 2, orders: 6 });
    // Organic: c3 (2, one second late), c4 (1 in the window, bought before its referral), o1 (2), o2 (3).
    const organic = await svc.gql(q, { referred: false });
    expect(organic.errors).toBeUndefined();
    expect(organic.data.repeatPurchaseRate).toEqual({ customers: 4, repeatCustomers: 3, orders: 8 });
    // The same set inside a query that sets join_use_nulls: February's previous (January) buyers
    // are c1 (bought again in February) among the referred, c4 and o1 (neither did) among the others.
    const rate = `query($referred: Boolean) {
      retentionRate(from: "2024-02-01T00:00:00Z", to: "2024-03-01T00:00:00Z", asOf: "${AS_OF}", filter: { referred: $referred }) {
        previousCustomers retainedCustomers
      }
    }`;
    expect((await svc.gql(rate, { referred: true })).data.retentionRate).toEqual([{ previousCustomers: 1, retainedCustomers: 1 }]);
    expect((await svc.gql(rate, { referred: false })).data.retentionRate).toEqual([{ previousCustomers: 2, retainedCustomers: 0 }]);
  });

  it('rejects bad arguments', async () => {
    const w = await svc.gql(cohortsQuery, { from: '2024-01-01T00:00:00Z', to: '2024-07-01T00:00:00Z', days: -1 });
    expect(w.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(w.errors?.[0]?.message).toMatch(/attributionWindowDays/);
    const c = await svc.gql(impactQuery, { from: '2024-01-01T00:00:00Z', to: '2024-03-01T00:00:00Z', currency: 'usd' });
    expect(c.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(c.errors?.[0]?.message).toMatch(/currency/);
    const z = await svc.gql(cohortsQuery, { from: '2024-01-01T00:00:00Z', to: '2024-07-01T00:00:00Z', tz: 'Mars/Base' });
    expect(z.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });
});
