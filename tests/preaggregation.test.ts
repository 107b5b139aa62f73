import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SqlQuery } from '../server/storage/executor.js';
import { clvSql, clvSummarySql } from '../loaders/clv.sql.js';
import type { CustomerFilterArgs } from '../loaders/customer-filter.js';
import { newCustomersSql } from '../loaders/customers.sql.js';
import { Grain } from '../loaders/grain.js';
import { createLoaders } from '../loaders/index.js';
import { GROUPED_WINDOWS_DEPTH } from '../loaders/kpi-loader.js';
import { referralCohortsSql, referralImpactSql } from '../loaders/referral.sql.js';
import { repeatPurchaseSql } from '../loaders/repeat-purchase.sql.js';
import { periodRetentionSql, pooledRetentionSql, retentionCohortsSql } from '../loaders/retention.sql.js';
import type { Source } from '../loaders/sql.js';
import { Rng } from '../scripts/generate/prng.js';
import { startTestService, type TestService } from './helpers/service.js';

// A seeded random store (300 customers, ~3000 purchases in USD/EUR/GBP over 2023-2024, profiles,
// referrals, refunds of every kind of spec section 12), ingested through POST /v1/events in several batches, so the pre-aggregated states
// have unmerged parts when they are read (a referral's sign-up and click come in a later
// batch). Later batches resend earlier events (retries) and add
// purchases dated before their customer's first purchase (late events that move the cohort).
// Refunds: full, partial, over-refunds, several per order, of a customer's first order (the
// cohort moves or vanishes), of a customer's first five orders, of one of two first orders at
// the same instant, of the earlier of two purchases sharing an orderId, with no
// matching purchase, in the wrong currency or by the wrong customer, and dated after some of
// the asOf values; half of them arrive before their purchases.
// Every KPI builder is then run on both sources, 'auto' (pre-aggregates wherever they answer)
// and 'raw' (raw tables only), and the rows must be identical.

const DAY = 86_400_000;
const START = Date.UTC(2023, 0, 1);
const END = Date.UTC(2025, 0, 1);
const iso = (ms: number) => new Date(ms).toISOString();

type Event = Record<string, unknown> & { eventId: string };

function store(): { batches: Event[][]; boundaryPurchase: string } {
  const rng = new Rng(20251126);
  const currencies = ['USD', 'USD', 'USD', 'EUR', 'GBP'];
  const countries = ['US', 'DE', 'GB', null];
  const purchases: Event[] = [];
  const profiles: Event[] = [];
  const referrals: Event[] = [];
  const laterReferrals: Event[] = [];
  const late: Event[] = [];
  const refunds: Event[] = [];
  const refund = (id: string, customerId: string, orderId: string, at: number, amount: string, currency: string): Event =>
    ({ type: 'refund', eventId: id, customerId, orderId, occurredAt: iso(at), amount, currency });
  for (let c = 0; c < 300; c++) {
    const id = `u${String(c).padStart(3, '0')}`;
    // Some customers start exactly on a month start, the boundary a period index must get right.
    const first = c % 25 === 0 ? Date.UTC(2023, 1 + (c % 12), 1) : START + rng.int(END - START - 30 * DAY);
    const orders = 1 + rng.int(19);
    let t = first;
    for (let k = 0; k < orders && t < END; k++) {
      const amount = `${1 + rng.int(50000)}.${String(rng.int(10000)).padStart(4, '0')}`;
      const currency = currencies[rng.int(currencies.length)]!;
      // Every 13th customer's orders 1 and 2 share an orderId: refunds of it belong to order 1.
      const orderId = c % 13 === 5 && (k === 1 || k === 2) ? `o-${c}-shared` : k % 2 === 0 ? `o-${c}-${k}` : undefined;
      const eventId = `p-${c}-${k}`;
      purchases.push({ type: 'purchase', eventId, customerId: id, occurredAt: iso(t), amount, currency, ...(orderId ? { orderId } : {}) });
      const key = orderId ?? eventId;
      const after = (n: number) => t + rng.int(n * DAY);
      const r = (c * 31 + k * 7) % 40;
      if (k === 0 && c % 19 === 4) {
        // A second order at the same instant as the first, which is cancelled: the first purchase stays at that instant.
        purchases.push({ type: 'purchase', eventId: `p-${c}-twin`, customerId: id, occurredAt: iso(t), amount: '7.0000', currency });
      }
      // Every 17th customer's first five orders are cancelled: more than the state's four earliest instants (migration 0019).
      const cancelledFirsts = k < 5 && c % 17 === 8;
      if ((k === 0 && (c % 11 === 0 || c % 19 === 4)) || cancelledFirsts || r === 0) refunds.push(refund(`rf-${c}-${k}`, id, key, after(60), amount, currency)); // cancelled
      else if (r === 1) refunds.push(refund(`rf-${c}-${k}`, id, key, after(60), (Number(amount) / 3).toFixed(4), currency)); // partial
      else if (r === 2) {
        // two refunds, together more than the amount: cancelled from the second one on
        refunds.push(refund(`rf-${c}-${k}-a`, id, key, after(30), (Number(amount) / 2).toFixed(4), currency));
        refunds.push(refund(`rf-${c}-${k}-b`, id, key, after(90), (Number(amount) * 0.6).toFixed(4), currency));
      } else if (r === 3) refunds.push(refund(`rf-${c}-${k}`, id, key, after(60), amount, currency === 'USD' ? 'EUR' : 'USD')); // wrong currency
      else if (r === 4) refunds.push(refund(`rf-${c}-${k}`, `u${String((c + 1) % 300).padStart(3, '0')}`, key, after(60), amount, currency)); // wrong customer
      else if (r === 5) refunds.push(refund(`rf-${c}-${k}`, id, `${key}-unknown`, after(60), amount, currency)); // no such order
      else if (r === 6) refunds.push(refund(`rf-${c}-${k}`, id, key, Date.UTC(2025, 2, 1) + rng.int(60) * DAY, amount, currency)); // after most asOf values
      if (c % 13 === 5 && k === 1) refunds.push(refund(`rf-${c}-shared`, id, key, after(20), amount, currency));
      t += Math.round(rng.exp(60 * DAY));
    }
    if (c % 7 === 3) {
      late.push({ type: 'purchase', eventId: `late-${c}`, customerId: id, occurredAt: iso(first - (1 + rng.int(200)) * DAY), amount: '5.5000', currency: 'USD' });
    }
    const country = countries[rng.int(countries.length)];
    profiles.push({
      type: 'customer',
      eventId: `prof-${c}`,
      customerId: id,
      occurredAt: iso(first - DAY),
      ...(country ? { country } : {}),
      channel: rng.chance(0.5) ? 'paid' : 'organic',
      ...(rng.chance(0.8) ? { segment: rng.chance(0.3) ? 'smb' : 'consumer' } : {}),
    });
    if (c % 5 === 0) {
      // A later profile version, after some of the asOf values below.
      profiles.push({ type: 'customer', eventId: `prof2-${c}`, customerId: id, occurredAt: iso(first + 90 * DAY), country: 'GB', channel: 'paid', segment: 'smb' });
    }
    if (c % 3 === 0) {
      const started = first - rng.int(120) * DAY;
      const referral = { type: 'referral', referralId: `r-${c}`, referrerId: `u${String((c * 7) % 300).padStart(3, '0')}` };
      const named = { referredCustomerId: id };
      // Every ninth invitation names no one: its sign-up, sent later, does.
      referrals.push({ ...referral, ...(c % 9 === 0 ? {} : named), eventId: `ri-${c}`, stage: 'INVITED', occurredAt: iso(started) });
      if (c % 2 === 0) laterReferrals.push({ ...referral, ...named, eventId: `rs-${c}`, stage: 'SIGNED_UP', occurredAt: iso(started + DAY) });
      // A click dated before its invitation (stages out of order in time).
      if (c % 4 === 0) laterReferrals.push({ ...referral, eventId: `rc-${c}`, stage: 'CLICKED', occurredAt: iso(started - 3_600_000) });
    }
  }
  const cut = Math.floor(purchases.length * 0.6);
  const retries = (from: Event[], n: number) => Array.from({ length: n }, (_, i) => from[(i * 37) % from.length]!);
  const half = Math.floor(refunds.length / 2);
  const batches = [
    [...profiles, ...referrals, ...purchases.slice(0, cut), ...refunds.slice(half)],
    [...retries(purchases.slice(0, cut), 100), ...purchases.slice(cut, cut + 600)],
    [...late, ...laterReferrals, ...retries(purchases.slice(0, cut + 600), 50), ...refunds.slice(0, half)],
    [...purchases.slice(cut + 600), ...retries(late, 10)],
  ];
  return { batches, boundaryPurchase: purchases[1234]!.occurredAt as string };
}

describe('pre-aggregated KPIs equal the raw-table KPIs', () => {
  let svc: TestService;
  let boundaryPurchase: string;
  const ctx = { requestId: 'preaggregation-test' };

  const post = async (events: Event[]) => {
    const res = await fetch(`${svc.url}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-ndjson' },
      body: events.map((e) => JSON.stringify(e)).join('\n') + '\n',
    });
    return (await res.json()) as { accepted: number; duplicates: number; rejected: unknown[] };
  };

  beforeAll(async () => {
    svc = await startTestService('t_preaggregation');
    const s = store();
    boundaryPurchase = s.boundaryPurchase;
    const answers = [];
    for (const batch of s.batches) answers.push(await post(batch));
    // The retries of batches 2-4 were all recognised, so every purchase is stored once.
    expect(answers.map((a) => [a.duplicates, a.rejected.length])).toEqual([[0, 0], [100, 0], [50, 0], [10, 0]]);
  }, 60_000);
  afterAll(async () => {
    await svc?.stop();
  });

  const both = async (build: (source: Source) => SqlQuery) => {
    const auto = build('auto');
    const raw = build('raw');
    const [a, r] = await Promise.all([svc.exec.rows(auto, ctx), svc.exec.rows(raw, ctx)]);
    // Run again: the engine plans a statement's later runs on what it cached from the first
    // (tests/engine-settings.test.ts), and the answer must not change with it.
    expect(await svc.exec.rows(auto, ctx)).toEqual(a);
    return {
      auto: a,
      raw: r,
      usedState: auto.query.includes('customer_activity'),
      usedReferralState: auto.query.includes('referral_state'),
      rawUsedState: /customer_activity|referral_state/.test(raw.query),
    };
  };

  it('stores every purchase once and keeps one state per customer', async () => {
    const [row] = await svc.exec.rows<{ raw: number; customers: number; orders: number }>(
      {
        query: `SELECT (SELECT count() FROM {db:Identifier}.purchases) AS raw,
                  (SELECT count() FROM {db:Identifier}.customer_activity FINAL) AS customers,
                  (SELECT sum(arraySum(s -> s.orders, sales)) FROM {db:Identifier}.customer_activity FINAL) AS orders`,
        query_params: {},
      },
      ctx,
    );
    expect(row!.customers).toBe(300);
    expect(row!.orders).toBe(row!.raw);
  });

  const asOfs = () => [
    '2025-06-01T00:00:00.000Z', // after every purchase: the state is read as stored
    '2024-06-15T13:45:00.000Z', // mid-month: the month of asOf comes from raw purchases
    boundaryPurchase, // exactly a purchase's instant: it counts (occurred_at <= asOf)
    '2024-03-01T00:00:00.000Z', // exactly a month start
    '2023-02-10T00:00:00.000Z', // early: most customers have not bought yet
  ];
  const filters: (CustomerFilterArgs | null)[] = [
    null,
    { country: ['US', 'DE'] },
    { referred: true },
    { segment: ['smb'], channel: ['paid'] },
    { referred: false, country: ['GB'] },
  ];
  const windows = [
    { from: new Date('2023-01-01T00:00:00Z'), to: new Date('2025-01-01T00:00:00Z') },
    { from: new Date('2023-04-01T00:00:00Z'), to: new Date('2024-07-01T00:00:00Z') },
    { from: new Date('2023-03-15T12:00:00Z'), to: new Date('2024-08-20T00:00:00Z') }, // not month-aligned
  ];
  // MONTH (from the months) and WEEK (from the instants) at every asOf, and one of the other grains in turn.
  const grainsAt = (j: number) => [Grain.MONTH, Grain.WEEK, [Grain.QUARTER, Grain.YEAR, Grain.DAY][j % 3]!];

  it('retention cohorts, period retention, CLV cohorts and summary, repeat purchases: identical rows for every combination', async () => {
    let i = 0;
    let stateUsed = 0;
    for (const [j, asOfText] of asOfs().entries()) {
      for (const grain of grainsAt(j)) {
        {
          i++;
          // Every fourth combination in a zone whose midnights are not UTC's (one with daylight saving,
          // one at +05:45): the state's instants answer retention there, CLV falls back to the raw SQL.
          const timezone = i % 8 === 3 ? 'America/New_York' : i % 8 === 7 ? 'Asia/Kathmandu' : 'UTC';
          const asOf = new Date(asOfText);
          const filter = filters[i % filters.length]!;
          const window = windows[i % windows.length]!;
          const periods = i % 2 === 0 ? 12 : 3;
          const cohort = { grain, ...window, periods, asOf, timezone, filter };
          const cases: [string, (s: Source) => SqlQuery][] = [
            ['retentionCohorts', (s) => retentionCohortsSql(cohort, s)],
            ['periodRetention', (s) => periodRetentionSql(cohort, s)],
            ['pooledRetention', (s) => pooledRetentionSql(cohort, s)],
            ['clv', (s) => clvSql({ ...cohort, currency: i % 3 === 0 ? 'EUR' : 'USD', margin: 1 }, periods, s)],
            ['clvSummary', (s) => clvSummarySql({ ...cohort, currency: 'USD', margin: 1 }, [window], s)],
            ['repeatPurchase', (s) => repeatPurchaseSql({ asOf, filter }, [window], s)],
          ];
          const results = await Promise.all(cases.map(([, build]) => both(build)));
          // Every grain in every zone: the state (its months or its instants) answers the cohorts.
          expect(results[0]!.usedState, `${grain} ${timezone} cohorts from the state`).toBe(true);
          for (const [k, r] of results.entries()) {
            expect(r.auto, `${cases[k]![0]} ${JSON.stringify(cohort)}`).toEqual(r.raw);
            expect(r.rawUsedState).toBe(false);
            if (r.usedState) stateUsed++;
          }
          // The pooled query (bit counts of the mask) sums what the per-period one counts.
          const [perPeriod] = results[1]!.raw as { counts: [number, number, number][] }[];
          expect(results[2]!.raw).toEqual([
            { key: null, previous: perPeriod!.counts.reduce((n, c) => n + c[1], 0), retained: perPeriod!.counts.reduce((n, c) => n + c[2], 0) },
          ]);
        }
      }
    }
    // Not vacuous: the state answered the UTC month/quarter/year cases and the aligned windows.
    expect(stateUsed).toBeGreaterThan(12);
  }, 120_000);


  it('repeat purchases and the CLV summary of several windows in one statement: each window as its own statement answers it', async () => {
    // Month windows alone read the state, the others the raw orders: each window's own statement
    // is a second method for the windows the batch reads together from the raw orders.
    const list = [
      ...windows,
      { from: new Date('2024-02-01T00:00:00Z'), to: new Date('2024-03-01T00:00:00Z') }, // a month
      { from: new Date('2024-02-26T00:00:00Z'), to: new Date('2024-03-04T00:00:00Z') }, // a week across it
      { from: new Date('2010-01-01T00:00:00Z'), to: new Date('2010-02-01T00:00:00Z') }, // nobody bought
    ];
    let rows = 0;
    for (const [j, asOfText] of asOfs().entries()) {
      const asOf = new Date(asOfText);
      const filter = filters[j % filters.length]!;
      const batches: [string, (ws: typeof list, s: Source) => SqlQuery][] = [
        ['repeatPurchase', (ws, s) => repeatPurchaseSql({ asOf, filter }, ws, s)],
        ['clvSummary', (ws, s) => clvSummarySql({ grain: Grain.MONTH, asOf, timezone: 'UTC', filter, currency: 'USD', margin: 1 }, ws, s)],
      ];
      for (const [name, build] of batches) {
        const [batch, raw, ...singles] = await Promise.all([build(list, 'auto'), build(list, 'raw'), ...list.map((w) => build([w], 'auto'))].map((q) => svc.exec.rows<{ w: number }>(q, ctx)));
        expect(batch, `${name} at ${asOfText}`).toEqual(raw);
        expect(batch!.map(({ w }) => w)).toEqual(batch!.map(({ w }) => w).sort((x, y) => x - y));
        expect(batch!.some(({ w }) => w === list.length)).toBe(false);
        rows += batch!.length;
        for (const [i, single] of singles.entries()) {
          expect(batch!.filter((r) => r.w === i + 1).map(({ w: _w, ...r }) => r), `${name} window ${i} at ${asOfText}`).toEqual(single!.map(({ w: _w, ...r }) => r));
        }
      }
    }
    // Not vacuous: most windows had orders at most asOfs.
    expect(rows).toBeGreaterThan(30);
  });
  it('splits overlapping windows asked at once into statements of bounded depth, each window answered as alone', async () => {
    // Ten windows ending on one day, one to ten months long: ten hold that day, more than one
    // statement takes. Ten disjoint months stay one statement.
    const asOf = new Date('2025-06-01T00:00:00Z');
    const end = Date.parse('2024-07-01T00:00:00Z');
    const nested = Array.from({ length: 10 }, (_, i) => ({ from: new Date(end - (i + 1) * 30 * 86_400_000), to: new Date(end) }));
    const disjoint = Array.from({ length: 10 }, (_, i) => ({ from: new Date(Date.UTC(2023, i, 1)), to: new Date(Date.UTC(2023, i + 1, 1)) }));
    expect(nested.length).toBeGreaterThan(GROUPED_WINDOWS_DEPTH);
    for (const [list, statements] of [[nested, 2], [disjoint, 1]] as const) {
      let n = 0;
      const stop = svc.exec.observe(({ query }) => (n += query.includes('repeat_customers') ? 1 : 0));
      const loaders = createLoaders({ exec: svc.exec, requestId: 'windows-depth' });
      const batch = await Promise.all(list.map((w) => loaders.repeatPurchase.load({ ...w, asOf, filter: null })));
      stop();
      expect(n).toBe(statements);
      const alone = await Promise.all(list.map(async (w) => (await svc.exec.rows<{ customers: number; repeat_customers: number; orders: number }>(repeatPurchaseSql({ asOf, filter: null }, [w], 'raw'), ctx))[0]));
      expect(batch.map((r) => [r.customers, r.repeatCustomers, r.orders])).toEqual(alone.map((r) => (r ? [r.customers, r.repeat_customers, r.orders] : [0, 0, 0])));
      expect(batch.filter((r) => r.orders > 0).length).toBeGreaterThan(5);
    }
  });

  it('period retention of a window too wide for one mask: the rows of its two halves', async () => {
    // 72 months take the sorted-periods path, each 36-month half the 64-bit mask: two methods.
    const asOf = new Date('2025-06-01T00:00:00Z');
    const window = (from: string, to: string) => ({ grain: Grain.MONTH, from: new Date(from), to: new Date(to), asOf, timezone: 'UTC' });
    for (const source of ['auto', 'raw'] as const) {
      const wide = periodRetentionSql(window('2019-01-01T00:00:00Z', '2025-01-01T00:00:00Z'), source);
      const halves = [periodRetentionSql(window('2019-01-01T00:00:00Z', '2022-01-01T00:00:00Z'), source), periodRetentionSql(window('2022-01-01T00:00:00Z', '2025-01-01T00:00:00Z'), source)];
      expect(wide.query).not.toContain('bitPositionsToArray');
      for (const h of halves) expect(h.query).toContain('bitPositionsToArray');
      // Each query's one row as (period start, previous, retained) per period, 0 where no one was active before.
      const periodRows = async (q: SqlQuery) => {
        const [row] = await svc.exec.rows<{ starts: string[]; counts: [number, number, number][] }>(q, ctx);
        const rows = row!.starts.map((start) => ({ start, previous: 0, retained: 0 }));
        for (const [i, previous, retained] of row!.counts) rows[i] = { start: row!.starts[i]!, previous, retained };
        return rows;
      };
      const [rows, first, second] = await Promise.all([wide, ...halves].map(periodRows));
      expect(rows).toHaveLength(72);
      expect(rows).toEqual([...first!, ...second!]);
      expect(rows!.reduce((sum, r) => sum + r.retained, 0)).toBeGreaterThan(100);
      // Pooled, the wide window sums its rows; the halves sum theirs by bit counts.
      const pooled = await Promise.all(
        [window('2019-01-01T00:00:00Z', '2025-01-01T00:00:00Z'), window('2019-01-01T00:00:00Z', '2022-01-01T00:00:00Z'), window('2022-01-01T00:00:00Z', '2025-01-01T00:00:00Z')].map(
          (w) => svc.exec.rows<{ previous: number; retained: number }>(pooledRetentionSql(w, source), ctx),
        ),
      );
      const total = (rs: { previous: number; retained: number }[]) => ({ previous: rs.reduce((n, r) => n + r.previous, 0), retained: rs.reduce((n, r) => n + r.retained, 0) });
      expect(pooled[0]).toEqual([{ key: null, ...total(rows!) }]);
      expect([pooled[1]![0], pooled[2]![0]]).toEqual([{ key: null, ...total(first!) }, { key: null, ...total(second!) }]);
    }
  });

  it('first purchases and referral states: new customers, referral cohorts and impact', async () => {
    for (const asOfText of asOfs()) {
      const asOf = new Date(asOfText);
      for (const [w, filter] of [[windows[0]!, null], [windows[2]!, { referred: true }]] as const) {
        const cases: [string, (s: Source) => SqlQuery][] = [
          ['newCustomers', (s) => newCustomersSql({ asOf, filter }, [w, windows[1]!, { from: w.from, to: windows[2]!.to }], s)],
          ['referralCohorts', (s) => referralCohortsSql({ grain: Grain.MONTH, ...w, attributionWindowDays: 90, asOf, timezone: 'UTC' }, s)],
          ['referralImpact', (s) => referralImpactSql({ ...w, currency: 'USD', asOf }, s)],
        ];
        const results = await Promise.all(cases.map(([, build]) => both(build)));
        for (const [k, r] of results.entries()) {
          expect(r.auto, `${cases[k]![0]} ${asOfText}`).toEqual(r.raw);
          expect(r.usedState).toBe(true);
          expect(r.usedReferralState).toBe(cases[k]![0] !== 'newCustomers' || filter !== null);
          expect(r.rawUsedState).toBe(false);
        }
      }
    }
  });

  it('a late purchase moves its customer to an earlier cohort through GraphQL, and a retry changes nothing', async () => {
    const query = `query($asOf: DateTime) {
      retentionCohorts(grain: MONTH, from: "2020-01-01T00:00:00Z", to: "2020-03-01T00:00:00Z", periods: 2, asOf: $asOf) {
        cohorts { cohortStart size cells { offset retained retainedOrLater } }
      }
      repeatPurchaseRate(from: "2020-01-01T00:00:00Z", to: "2020-04-01T00:00:00Z", asOf: $asOf) { customers repeatCustomers orders }
    }`;
    // z1 buys Feb 10 and Mar 5 2020; later a Jan 20 purchase of theirs arrives; then it is sent again.
    await post([
      { type: 'purchase', eventId: 'z1-a', customerId: 'z1', occurredAt: '2020-02-10T00:00:00Z', amount: '1', currency: 'USD' },
      { type: 'purchase', eventId: 'z1-b', customerId: 'z1', occurredAt: '2020-03-05T00:00:00Z', amount: '1', currency: 'USD' },
    ]);
    const before = await svc.gql(query, { asOf: '2020-12-01T00:00:00Z' });
    expect(before.data.retentionCohorts.cohorts).toEqual([
      { cohortStart: '2020-02-01T00:00:00.000Z', size: 1, cells: [{ offset: 0, retained: 1, retainedOrLater: 1 }, { offset: 1, retained: 1, retainedOrLater: 1 }, { offset: 2, retained: 0, retainedOrLater: 0 }] },
    ]);
    const late = { type: 'purchase', eventId: 'z1-late', customerId: 'z1', occurredAt: '2020-01-20T00:00:00Z', amount: '1', currency: 'USD' };
    expect((await post([late])).accepted).toBe(1);
    expect((await post([late])).duplicates).toBe(1);
    const after = await svc.gql(query, { asOf: '2020-12-01T00:00:00Z' });
    // Cohort Jan 2020: Jan (offset 0), Feb (1), Mar (2) all active.
    expect(after.data.retentionCohorts.cohorts).toEqual([
      { cohortStart: '2020-01-01T00:00:00.000Z', size: 1, cells: [{ offset: 0, retained: 1, retainedOrLater: 1 }, { offset: 1, retained: 1, retainedOrLater: 1 }, { offset: 2, retained: 1, retainedOrLater: 1 }] },
    ]);
    expect(after.data.repeatPurchaseRate).toEqual({ customers: 1, repeatCustomers: 1, orders: 3 });
    // As of Feb 15, the March purchase does not exist yet; the Feb one does (asOf inside the month).
    const mid = await svc.gql(query, { asOf: '2020-02-15T00:00:00Z' });
    expect(mid.data.retentionCohorts.cohorts).toEqual([
      { cohortStart: '2020-01-01T00:00:00.000Z', size: 1, cells: [{ offset: 0, retained: 1, retainedOrLater: 1 }, { offset: 1, retained: 1, retainedOrLater: 1 }] },
    ]);
    expect(mid.data.repeatPurchaseRate).toEqual({ customers: 1, repeatCustomers: 1, orders: 2 });
  });

  it('counts every sales entry of a customer whose state rows are not merged yet', async () => {
    // Two requests store z2 in two parts of the state; with merges stopped they stay apart, and
    // FINAL must concatenate their sales arrays (the sales.month subcolumn syntax did not).
    await svc.exec.command('SYSTEM STOP MERGES {db:Identifier}.customer_activity', ctx);
    // Each request its own insert: the ingest log applies the groups acknowledged meanwhile
    // together, and a read waits until the request's group is applied.
    const apart = async (events: Parameters<typeof post>[0]) => {
      await post(events);
      await svc.exec.rows({ query: 'SELECT 1', query_params: {} }, ctx);
    };
    try {
      await apart([{ type: 'purchase', eventId: 'z2-a', customerId: 'z2', occurredAt: '2019-01-05T00:00:00Z', amount: '10.0001', currency: 'USD' }]);
      await apart([
        { type: 'purchase', eventId: 'z2-b', customerId: 'z2', occurredAt: '2019-02-07T00:00:00Z', amount: '20', currency: 'USD' },
        { type: 'purchase', eventId: 'z2-c', customerId: 'z2', occurredAt: '2019-02-08T00:00:00Z', amount: '7', currency: 'EUR' },
      ]);
      // February in USD again, in a third part: one (customer, month) pair however many entries hold it.
      await apart([{ type: 'purchase', eventId: 'z2-d', customerId: 'z2', occurredAt: '2019-02-20T00:00:00Z', amount: '5', currency: 'USD' }]);
      const [parts] = await svc.exec.rows<{ n: number }>(
        { query: "SELECT count() AS n FROM {db:Identifier}.customer_activity WHERE customer_id = 'z2'", query_params: {} },
        ctx,
      );
      expect(parts!.n).toBe(3);
      const r = await svc.gql(`{
        customerLifetimeValue(grain: MONTH, from: "2019-01-01T00:00:00Z", to: "2019-03-01T00:00:00Z", periods: 1, currency: "USD", asOf: "2019-12-01T00:00:00Z") {
          revenue orders customers activeCustomerPeriods purchaseFrequency cohorts { cohortStart size cells { offset revenue cumulativeRevenuePerCustomer } }
        }
      }`);
      expect(r.data.customerLifetimeValue).toEqual({
        revenue: 35.0001,
        orders: 3,
        customers: 1,
        activeCustomerPeriods: 2,
        purchaseFrequency: 1.5,
        cohorts: [
          {
            cohortStart: '2019-01-01T00:00:00.000Z',
            size: 1,
            cells: [
              { offset: 0, revenue: 10.0001, cumulativeRevenuePerCustomer: 10.0001 },
              { offset: 1, revenue: 25, cumulativeRevenuePerCustomer: 35.0001 },
            ],
          },
        ],
      });
      // The summary alone (kpiSnapshot's) counts the same pairs from the state (a window longer
      // than two years: shorter ones read their raw purchases).
      const summary = await both((s) =>
        clvSummarySql({ grain: Grain.MONTH, asOf: new Date('2019-12-01T00:00:00Z'), timezone: 'UTC', currency: 'USD', margin: 1 }, [{ from: new Date('2016-07-01T00:00:00Z'), to: new Date('2019-03-01T00:00:00Z') }], s),
      );
      expect(summary.usedState).toBe(true);
      expect(summary.auto).toEqual(summary.raw);
      expect(summary.auto).toMatchObject([{ w: 1, orders: 3, customers: 1, active_customer_periods: 2 }]);
    } finally {
      await svc.exec.command('SYSTEM START MERGES {db:Identifier}.customer_activity', ctx);
    }
  });
});
