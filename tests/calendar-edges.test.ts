import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Grain } from '../loaders/grain.js';
import { periodRetentionSql, pooledRetentionSql, retentionCohortsSql, type PeriodRetentionArgs } from '../loaders/retention.sql.js';
import type { Source } from '../loaders/sql.js';
import { startTestService, type TestService } from './helpers/service.js';

// The ends of the calendar the service answers for (kpi-spec section 2: instants in
// [1970-01-01, 2100-01-01)), hand-computed. Purchases (UTC; Los Angeles was UTC-8 all of
// January and February 1970):
//   a: 1970-01-01T00:00Z (Thu; LA Dec 31 16:00), 1970-01-05T10:00Z (Mon; LA Jan 5 02:00), 1970-01-13T00:00Z (Tue; LA Jan 12 16:00)
//   b: 1970-01-01T12:00Z (LA Jan 1 04:00), 1970-01-02T00:00Z (LA Jan 1 16:00), 1970-02-10T00:00Z (LA Feb 9)
//   c: 1970-01-01T03:00Z (LA Dec 31 19:00), 1970-01-02T05:00Z (LA Jan 1 21:00)
//   d: 2099-12-30T12:00Z, 2099-12-31T23:59:59.999Z (the last instant there is)
//   e: 2099-12-31T00:00Z
// The first ISO week of 1970 starts on Monday 1969-12-29, before the first instant: in UTC and
// in LA, week 0 (Dec 29 - Jan 4) has a, b, c; week 1 (from Jan 5) a; week 2 (from Jan 12) a.
// LA days: Dec 31 {a, c}, Jan 1 {b, c}, Jan 2 {}; LA months: Dec 1969 {a, c}, Jan {a, b, c}, Feb {b}.
// Survey responses: c 0 at 1970-01-01T03:00Z (LA Dec 31), b 10 at 1970-01-02T00:00Z (LA Jan 1).
const purchases: [string, string][] = [
  ['a', '1970-01-01T00:00:00Z'], ['a', '1970-01-05T10:00:00Z'], ['a', '1970-01-13T00:00:00Z'],
  ['b', '1970-01-01T12:00:00Z'], ['b', '1970-01-02T00:00:00Z'], ['b', '1970-02-10T00:00:00Z'],
  ['c', '1970-01-01T03:00:00Z'], ['c', '1970-01-02T05:00:00Z'],
  ['d', '2099-12-30T12:00:00Z'], ['d', '2099-12-31T23:59:59.999Z'],
  ['e', '2099-12-31T00:00:00Z'],
];
const surveys: [string, number, string][] = [['c', 0, '1970-01-01T03:00:00Z'], ['b', 10, '1970-01-02T00:00:00Z']];

const LA = 'America/Los_Angeles';
const EARLY_AS_OF = new Date('1970-03-01T00:00:00Z');
const LAST_INSTANT = new Date('2099-12-31T23:59:59.999Z');
const at = (s: string) => new Date(s);
/** The engine's text of a UTC instant given to the second, as the SQL builders return period starts. */
const text = (iso: string) => `${iso.replace('T', ' ').replace('Z', '')}.000`;

type Row = { period_start: string; previous: number; retained: number };

describe('periods at the ends of the calendar', () => {
  let svc: TestService;
  const ctx = { requestId: 'calendar-edges-test' };
  const rows = <T>(q: { query: string; query_params: Record<string, unknown> }) => svc.exec.rows<T>(q, ctx);

  beforeAll(async () => {
    svc = await startTestService('t_calendar_edges');
    const body = [
      ...purchases.map(([c, t], i) => ({ type: 'purchase', eventId: `p${i}`, customerId: c, occurredAt: t, amount: '1', currency: 'USD' })),
      ...surveys.map(([c, score, t], i) => ({ type: 'survey', eventId: `s${i}`, customerId: c, surveyId: 'q', kind: 'NPS', score, occurredAt: t })),
    ];
    const res = await fetch(`${svc.url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body: body.map((e) => JSON.stringify(e)).join('\n') });
    expect(await res.json()).toEqual({ accepted: body.length, duplicates: 0, rejectedCount: 0, rejected: [] });
  });
  afterAll(async () => {
    await svc?.stop();
  });

  /**
   * Period retention of a window on both sources, checked against the hand-computed rows, and
   * each row against the same period asked alone: a window [start, start + 1 ms) holds exactly
   * that one period start. The pooled counts are the rows' sums.
   */
  /** The query's one row (one per key without a breakdown) as (period start, previous, retained) per period, 0 where no one was active before. */
  async function periodRows(q: Parameters<typeof rows>[0]): Promise<Row[]> {
    const [row] = await rows<{ starts: string[]; counts: [number, number, number][] }>(q);
    const out = row!.starts.map((period_start) => ({ period_start, previous: 0, retained: 0 }));
    for (const [i, previous, retained] of row!.counts) out[i] = { period_start: row!.starts[i]!, previous, retained };
    return out;
  }

  async function retention(a: PeriodRetentionArgs, expected: [string, number, number][]) {
    const want = expected.map(([start, previous, retained]) => ({ period_start: text(start), previous, retained }));
    // Grains and zones the state does not answer build the same SQL on both sources: asked once.
    const sources: Source[] = periodRetentionSql(a, 'auto').query === periodRetentionSql(a, 'raw').query ? ['raw'] : ['auto', 'raw'];
    for (const source of sources) {
      const narrow = (start: string) => periodRetentionSql({ ...a, from: at(start), to: new Date(at(start).getTime() + 1) }, source);
      const [wide, pooled, ...alone] = await Promise.all([
        periodRows(periodRetentionSql(a, source)),
        rows(pooledRetentionSql(a, source)),
        ...expected.map(([start]) => periodRows(narrow(start))),
      ]);
      expect(wide, `${source} ${JSON.stringify(a)}`).toEqual(want);
      expect(alone, `${source} narrow`).toEqual(want.map((w) => [w]));
      expect(pooled).toEqual([{ key: null, previous: want.reduce((n, r) => n + r.previous, 0), retained: want.reduce((n, r) => n + r.retained, 0) }]);
    }
  }

  it('counts the first ISO week of 1970, which starts on 1969-12-29', async () => {
    const a = { grain: Grain.WEEK, from: at('1970-01-01T00:00:00Z'), to: at('1970-01-19T00:00:00Z'), asOf: EARLY_AS_OF, timezone: 'UTC' };
    await retention(a, [['1970-01-05T00:00:00Z', 3, 1], ['1970-01-12T00:00:00Z', 1, 1]]);
  });

  it('counts the days of January 1970 from the first instant', async () => {
    const a = { grain: Grain.DAY, from: at('1970-01-01T00:00:00Z'), to: at('1970-01-06T00:00:00Z'), asOf: EARLY_AS_OF, timezone: 'UTC' };
    await retention(a, [
      ['1970-01-01T00:00:00Z', 0, 0], ['1970-01-02T00:00:00Z', 3, 2], ['1970-01-03T00:00:00Z', 2, 0],
      ['1970-01-04T00:00:00Z', 0, 0], ['1970-01-05T00:00:00Z', 0, 0],
    ]);
  });

  it('counts months, quarters and years from 1970 alike on the state and the raw tables', async () => {
    const a = (grain: Grain, to: string) => ({ grain, from: at('1970-01-01T00:00:00Z'), to: at(to), asOf: EARLY_AS_OF, timezone: 'UTC' });
    await retention(a(Grain.MONTH, '1970-03-01T00:00:00Z'), [['1970-01-01T00:00:00Z', 0, 0], ['1970-02-01T00:00:00Z', 3, 1]]);
    await retention(a(Grain.QUARTER, '1970-04-01T00:00:00Z'), [['1970-01-01T00:00:00Z', 0, 0]]);
    await retention(a(Grain.YEAR, '1971-01-01T00:00:00Z'), [['1970-01-01T00:00:00Z', 0, 0]]);
  });

  it('puts the first instants in 1969 west of UTC', async () => {
    const a = (grain: Grain, to: string) => ({ grain, from: at('1970-01-01T00:00:00Z'), to: at(to), asOf: EARLY_AS_OF, timezone: LA });
    await retention(a(Grain.DAY, '1970-01-03T08:00:00Z'), [['1970-01-01T08:00:00Z', 2, 1], ['1970-01-02T08:00:00Z', 2, 0]]);
    await retention(a(Grain.WEEK, '1970-01-19T08:00:00Z'), [['1970-01-05T08:00:00Z', 3, 1], ['1970-01-12T08:00:00Z', 1, 1]]);
    await retention(a(Grain.MONTH, '1970-03-01T08:00:00Z'), [['1970-01-01T08:00:00Z', 2, 2], ['1970-02-01T08:00:00Z', 3, 1]]);
    await retention(a(Grain.QUARTER, '1970-04-01T08:00:00Z'), [['1970-01-01T08:00:00Z', 2, 2]]);
    await retention(a(Grain.YEAR, '1971-01-01T08:00:00Z'), [['1970-01-01T08:00:00Z', 2, 2]]);
  });

  it('counts the last days before 2100, in UTC and east of it', async () => {
    const a = (grain: Grain, from: string, timezone = 'UTC') => ({ grain, from: at(from), to: at('2100-01-01T00:00:00Z'), asOf: LAST_INSTANT, timezone });
    await retention(a(Grain.DAY, '2099-12-30T00:00:00Z'), [['2099-12-30T00:00:00Z', 0, 0], ['2099-12-31T00:00:00Z', 1, 1]]);
    // Kiritimati is UTC+14: d's last purchase and the start of its 2100-01-01 fall before 2100 in UTC.
    await retention(a(Grain.DAY, '2099-12-30T10:00:00Z', 'Pacific/Kiritimati'), [['2099-12-30T10:00:00Z', 0, 0], ['2099-12-31T10:00:00Z', 2, 1]]);
    // 2100-01-01 is a Friday: the last week starts on Monday 2099-12-28.
    await retention(a(Grain.WEEK, '2099-12-21T00:00:00Z'), [['2099-12-21T00:00:00Z', 0, 0], ['2099-12-28T00:00:00Z', 0, 0]]);
  });

  type Cohort = { c: number; starts: string[]; cells: [number, number, number][] };
  /** Cohort starts and (offset, retained, "or later") cells, equal on both sources. */
  async function cohorts(a: PeriodRetentionArgs & { periods: number }) {
    const [auto, raw] = await Promise.all((['auto', 'raw'] as Source[]).map((s) => rows<Cohort>(retentionCohortsSql(a, s))));
    expect(auto).toEqual(raw);
    // cells: (k, retained, last); "or later" at k counts those whose last offset is k or more.
    return raw!.map((r) => ({
      start: r.starts[0],
      cells: r.cells.map(([k, retained]) => [r.starts[k], retained, r.cells.filter(([j, , last]) => j >= k && last > 0).reduce((n, [, , last]) => n + last, 0)]),
    }));
  }

  it('has cohorts of the first day of 1970, in UTC and in Los Angeles', async () => {
    const base = { periods: 1, asOf: EARLY_AS_OF };
    expect(await cohorts({ ...base, grain: Grain.DAY, from: at('1970-01-01T00:00:00Z'), to: at('1970-01-03T00:00:00Z'), timezone: 'UTC' })).toEqual([
      { start: text('1970-01-01T00:00:00Z'), cells: [[text('1970-01-01T00:00:00Z'), 3, 3], [text('1970-01-02T00:00:00Z'), 2, 3]] },
    ]);
    // In LA, a and c first bought on Dec 31, before the window: the Jan 1 cohort is b alone.
    expect(await cohorts({ ...base, grain: Grain.DAY, from: at('1970-01-01T00:00:00Z'), to: at('1970-01-02T08:00:00Z'), timezone: LA })).toEqual([
      { start: text('1970-01-01T08:00:00Z'), cells: [[text('1970-01-01T08:00:00Z'), 1, 1], [text('1970-01-02T08:00:00Z'), 0, 1]] },
    ]);
    expect(await cohorts({ ...base, grain: Grain.MONTH, from: at('1970-01-01T00:00:00Z'), to: at('1970-02-01T08:00:00Z'), timezone: LA })).toEqual([
      { start: text('1970-01-01T08:00:00Z'), cells: [[text('1970-01-01T08:00:00Z'), 1, 1], [text('1970-02-01T08:00:00Z'), 1, 1]] },
    ]);
  });

  it('has cohorts of the last days before 2100', async () => {
    const a = { grain: Grain.DAY, from: at('2099-12-30T00:00:00Z'), to: at('2100-01-01T00:00:00Z'), periods: 1, asOf: LAST_INSTANT, timezone: 'UTC' };
    expect(await cohorts(a)).toEqual([
      { start: text('2099-12-30T00:00:00Z'), cells: [[text('2099-12-30T00:00:00Z'), 1, 1], [text('2099-12-31T00:00:00Z'), 1, 1]] },
      { start: text('2099-12-31T00:00:00Z'), cells: [[text('2099-12-31T00:00:00Z'), 1, 1]] },
    ]);
  });

  it('answers the same through GraphQL: retentionRate, kpiSnapshot and the NPS series', async () => {
    const r = await svc.gql(`{
      week: retentionRate(grain: WEEK, from: "1970-01-01T00:00:00Z", to: "1970-01-19T00:00:00Z", asOf: "1970-03-01T00:00:00Z") { periodStart previousCustomers retainedCustomers }
      day: retentionRate(grain: DAY, from: "2099-12-30T00:00:00Z", to: "2100-01-01T00:00:00Z", asOf: "2099-12-31T23:59:59.999Z") { periodStart previousCustomers retainedCustomers }
      kpiSnapshot(grain: WEEK, from: "1970-01-01T00:00:00Z", to: "1970-01-19T00:00:00Z", asOf: "1970-03-01T00:00:00Z") { retentionRate }
      week1969: nps(grain: WEEK, from: "1970-01-01T00:00:00Z", to: "1970-01-05T00:00:00Z", asOf: "1970-03-01T00:00:00Z") { series { periodStart responses } }
      la: nps(grain: DAY, timezone: "${LA}", from: "1970-01-01T00:00:00Z", to: "1970-01-03T00:00:00Z", asOf: "1970-03-01T00:00:00Z") { series { periodStart responses } }
    }`);
    expect(r.errors).toBeUndefined();
    expect(r.data.week).toEqual([
      { periodStart: '1970-01-05T00:00:00.000Z', previousCustomers: 3, retainedCustomers: 1 },
      { periodStart: '1970-01-12T00:00:00.000Z', previousCustomers: 1, retainedCustomers: 1 },
    ]);
    expect(r.data.day).toEqual([
      { periodStart: '2099-12-30T00:00:00.000Z', previousCustomers: 0, retainedCustomers: 0 },
      { periodStart: '2099-12-31T00:00:00.000Z', previousCustomers: 1, retainedCustomers: 1 },
    ]);
    // Pooled over both weeks: 2 of 4.
    expect(r.data.kpiSnapshot).toEqual({ retentionRate: 0.5 });
    // Both responses fall in the ISO week that started on 1969-12-29.
    expect(r.data.week1969.series).toEqual([{ periodStart: '1969-12-29T00:00:00.000Z', responses: 2 }]);
    expect(r.data.la.series).toEqual([
      { periodStart: '1969-12-31T08:00:00.000Z', responses: 1 },
      { periodStart: '1970-01-01T08:00:00.000Z', responses: 1 },
    ]);
  });

  // Every query taking an instant argument, with valid values for the others; `periodic`
  // queries take grain and timezone (`zoned`) too, which the bounds do not depend on.
  const WINDOW = { from: '"2024-01-01T00:00:00Z"', to: '"2024-02-01T00:00:00Z"' };
  const KPIS: { op: string; args: Record<string, string>; select?: string; grain?: boolean; zoned?: boolean; mutation?: boolean }[] = [
    { op: 'retentionCohorts', args: WINDOW, grain: true, zoned: true },
    { op: 'retentionRate', args: WINDOW, grain: true, zoned: true },
    { op: 'retentionRateSummary', args: WINDOW, grain: true, zoned: true },
    { op: 'customerLifetimeValue', args: WINDOW, grain: true, zoned: true },
    { op: 'nps', args: WINDOW, grain: true, zoned: true },
    { op: 'csat', args: WINDOW, grain: true, zoned: true },
    { op: 'referralConversionCohorts', args: WINDOW, grain: true, zoned: true },
    { op: 'repeatPurchaseRate', args: WINDOW },
    { op: 'npsImpact', args: WINDOW },
    { op: 'referralImpact', args: WINDOW },
    { op: 'kpiSnapshot', args: WINDOW, grain: true },
    { op: 'kpiSeries', args: WINDOW, grain: true },
    { op: 'takeSnapshot', args: { ...WINDOW, name: '"edges"' }, grain: true, mutation: true },
    { op: 'kpiSnapshots', args: { ...WINDOW, name: '"edges"' } },
    { op: 'clvModel', args: { calibrationEnd: '"2024-01-01T00:00:00Z"' } },
    { op: 'customerPredictions', args: { ids: '["a"]', horizon: '1', calibrationEnd: '"2024-01-01T00:00:00Z"' } },
    { op: 'atRiskCustomers', args: { calibrationEnd: '"2024-01-01T00:00:00Z"' } },
    { op: 'customer', args: { id: '"a"', asOf: '"2024-01-01T00:00:00Z"' } },
    { op: 'customers', args: { ids: '["a"]', asOf: '"2024-01-01T00:00:00Z"' } },
  ];
  // Outside the bounds, per kind of argument: a start or evaluation time is in [1970, 2100), an end in (1970, 2100].
  const START_OUTSIDE = ['1969-12-31T23:59:59.999Z', '2100-01-01T00:00:00Z', '2100-01-01T01:00:00+01:00'];
  const END_OUTSIDE = ['1970-01-01T00:00:00Z', '2100-01-01T00:00:00.001Z', '1970-01-01T01:00:00+01:00'];
  const GRAINS = ['DAY', 'WEEK', 'MONTH', 'QUARTER', 'YEAR'];
  const ZONES = ['UTC', LA, 'Asia/Tokyo'];

  it('refuses every instant argument outside [1970-01-01, 2100-01-01), naming it, for every grain and zone', async () => {
    let n = 0;
    for (const [k, kpi] of KPIS.entries()) {
      const names = Object.keys(kpi.args).filter((k) => ['from', 'to', 'calibrationEnd', 'asOf'].includes(k));
      // Window KPIs take asOf as well (the list of stored snapshots does not); clvModel has holdoutEnd, an end.
      if (kpi.args.from && kpi.op !== 'kpiSnapshots') names.push('asOf');
      if (kpi.op === 'clvModel') names.push('holdoutEnd');
      const requests = names.map(async (name, i) => {
        const end = name === 'to' || name === 'holdoutEnd';
        // One value outside per argument, in turn; every value for retentionRate.
        const values = end ? END_OUTSIDE : START_OUTSIDE;
        for (const value of kpi.op === 'retentionRate' ? values : [values[(k + i) % values.length]!]) {
          n++;
          const args: Record<string, string> = { ...kpi.args, [name]: JSON.stringify(value) };
          // A `to` of exactly 1970-01-01 needs a `from` that is not later than it to be about `to` alone.
          if (name === 'to' && kpi.args.from) args.from = '"1970-01-01T00:00:00Z"';
          if (name === 'from' && value.startsWith('2100')) args.to = '"2100-01-01T00:00:00Z"';
          if (kpi.grain) args.grain = GRAINS[(n + k) % GRAINS.length]!;
          if (kpi.zoned) args.timezone = JSON.stringify(ZONES[(n + i) % ZONES.length]);
          // One request per case: graphql-js stops at the first non-null root field that fails.
          const what = `${kpi.op}(${Object.entries(args).map(([key, v]) => `${key}: ${v}`).join(', ')})`;
          const r = await svc.gql(`${kpi.mutation ? 'mutation' : ''} { ${what} { __typename } }`);
          expect(r.data?.[kpi.op] ?? null, what).toBeNull();
          expect(r.errors, what).toHaveLength(1);
          expect(r.errors[0].extensions, what).toMatchObject({ code: 'BAD_USER_INPUT', field: name });
          const span = end ? '(1970-01-01T00:00:00Z, 2100-01-01T00:00:00Z]' : '[1970-01-01T00:00:00Z, 2100-01-01T00:00:00Z)';
          expect(r.errors[0].message, what).toBe(`"${name}" must be in ${span}, the span of event timestamps (got ${new Date(value).toISOString()})`);
        }
      });
      await Promise.all(requests);
    }
    expect(n).toBeGreaterThan(50);
  });

  it('takes the bounds themselves', async () => {
    const r = await svc.gql(`{
      rate: retentionRate(grain: DAY, timezone: "${LA}", from: "1970-01-01T00:00:00Z", to: "1970-01-01T00:00:00.001Z", asOf: "2099-12-31T23:59:59.999Z") { periodStart }
      first: customer(id: "a", asOf: "1970-01-01T00:00:00Z") { customerId }
      late: repeatPurchaseRate(from: "2099-12-31T23:59:59.999Z", to: "2100-01-01T00:00:00Z", asOf: "1970-01-01T00:00:00Z") { customers }
    }`);
    expect(r.errors).toBeUndefined();
    // No LA day starts in the first millisecond of 1970: it is 16:00 on Dec 31 there.
    expect(r.data.rate).toEqual([]);
    expect(r.data.first).toEqual({ customerId: 'a' });
    expect(r.data.late).toEqual({ customers: 0 });
  });

  it('says what is wrong with a DateTime, naming the variable or showing where the literal is', async () => {
    const document = `{ repeatPurchaseRate(from: "2025-02-30T00:00:00Z", to: "2025-04-01T00:00:00Z") { rate } }`;
    const literal = await svc.gql(document);
    expect(literal.errors).toHaveLength(1);
    expect(literal.errors[0].message).toBe('DateTime cannot represent "2025-02-30T00:00:00Z": February 2025 has no day 30');
    // A bad literal makes the document invalid; graphql-js gives its parser no argument name, the location points at it.
    expect(literal.errors[0].extensions.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(literal.errors[0].locations).toEqual([{ line: 1, column: document.indexOf('"2025-02-30') + 1 }]);
    const variable = await svc.gql(`query($from: DateTime!) { repeatPurchaseRate(from: $from, to: "2025-04-01T00:00:00Z") { rate } }`, { from: '2025-02-30T00:00:00Z' });
    expect(variable.errors[0].message).toBe('Variable "$from" got invalid value "2025-02-30T00:00:00Z"; DateTime cannot represent "2025-02-30T00:00:00Z": February 2025 has no day 30');
    expect(variable.errors[0].extensions.code).toBe('BAD_USER_INPUT');
    const cases: [unknown, string][] = [
      ['2024-01-01T00:00:00', 'DateTime cannot represent "2024-01-01T00:00:00": it names no zone; end it with "Z" or an offset such as "+02:00"'],
      ['2024-13-01T00:00:00Z', 'DateTime cannot represent "2024-13-01T00:00:00Z": there is no month 13'],
      ['2024-01-01T24:00:00Z', 'DateTime cannot represent "2024-01-01T24:00:00Z": 24:00:00 is no time of day (hours 00-23, minutes 00-59)'],
      ['2024-01-01T00:00:00+25:00', 'DateTime cannot represent "2024-01-01T00:00:00+25:00": +25:00 is no zone offset (-23:59 to +23:59)'],
      ['yesterday', 'DateTime cannot represent "yesterday": expected an ISO-8601 instant with a zone such as "2024-03-01T00:00:00Z" or "2024-03-01T09:30:00+02:00"'],
      [20240101, 'DateTime cannot represent 20240101: expected an ISO-8601 instant with a zone such as "2024-03-01T00:00:00Z" or "2024-03-01T09:30:00+02:00"'],
    ];
    for (const [value, message] of cases) {
      const r = await svc.gql(`query($asOf: DateTime) { customer(id: "a", asOf: $asOf) { customerId } }`, { asOf: value });
      expect(r.errors[0].message).toBe(`Variable "$asOf" got invalid value ${JSON.stringify(value)}; ${message}`);
    }
    // 2024 is a leap year; 2100 is not, but is outside anyway.
    const leap = await svc.gql(`{ customer(id: "a", asOf: "2024-02-29T23:59:59.999+01:00") { customerId } }`);
    expect(leap.errors).toBeUndefined();
  });
});
