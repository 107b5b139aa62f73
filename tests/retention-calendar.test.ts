import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Grain } from '../loaders/grain.js';
import { maxPeriodsIn, periodRetentionSql } from '../loaders/retention.sql.js';
import { startTestService, type TestService } from './helpers/service.js';

// Calendar edge cases, hand-computed. New York switches to daylight time on 2024-03-10
// (Mondays start at 05:00Z before, 04:00Z after). Fixture, stored through POST /v1/events:
//   p: 2024-03-04T04:30Z (Sun Mar 3 23:30 in New York), 2024-03-11T04:30Z (Mon Mar 11 00:30 NY)
//   q: 2024-03-05T12:00Z, 2024-03-17T12:00Z
//   r: 2024-02-29T12:00Z (leap day), 2024-03-10T23:59:59.999-04:00 (Sun, last ms of the NY week)
//   s: 2023-12-31T23:30:00-01:00 (= 2024-01-01T00:30Z: Q1 2024 in UTC, Q4 2023 in NY), 2024-04-01T00:00Z
const events = [
  ['p1', 'p', '2024-03-04T04:30:00Z'], ['p2', 'p', '2024-03-11T04:30:00Z'],
  ['q1', 'q', '2024-03-05T12:00:00Z'], ['q2', 'q', '2024-03-17T12:00:00Z'],
  ['r1', 'r', '2024-02-29T12:00:00Z'], ['r2', 'r', '2024-03-10T23:59:59.999-04:00'],
  ['s1', 's', '2023-12-31T23:30:00-01:00'], ['s2', 's', '2024-04-01T00:00:00Z'],
];

const cells = (r: any) =>
  r.data.retentionCohorts.cohorts.map((c: any) => [c.cohortStart, c.size, c.cells.map((x: any) => [x.periodStart, x.retained, x.retainedOrLater, x.complete])]);

describe('retention on calendar boundaries', () => {
  let svc: TestService;
  const cohorts = (args: string) =>
    svc.gql(`{ retentionCohorts(${args}) { cohorts { cohortStart size cells { periodStart retained retainedOrLater complete } } } }`);

  beforeAll(async () => {
    svc = await startTestService('t_retention_calendar');
    const body = events.map(([id, c, at]) => JSON.stringify({ type: 'purchase', eventId: id, customerId: c, occurredAt: at, amount: '1', currency: 'USD' })).join('\n');
    await fetch(`${svc.url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body });
    // A retry of p1 with another time and amount: a duplicate, ignored by every KPI.
    const retry = await fetch(`${svc.url}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-ndjson' },
      body: JSON.stringify({ type: 'purchase', eventId: 'p1', customerId: 'p', occurredAt: '2024-01-01T00:00:00Z', amount: '5', currency: 'USD' }),
    });
    expect(await retry.json()).toEqual({ accepted: 0, duplicates: 1, rejectedCount: 0, rejected: [] });
  });
  afterAll(async () => {
    await svc?.stop();
  });

  it('follows local weeks across a daylight-saving change', async () => {
    const r = await cohorts('grain: WEEK, timezone: "America/New_York", from: "2024-02-26T05:00:00Z", to: "2024-03-11T04:00:00Z", periods: 2, asOf: "2024-03-20T00:00:00Z"');
    expect(r.errors).toBeUndefined();
    expect(cells(r)).toEqual([
      ['2024-02-26T05:00:00.000Z', 2, [
        ['2024-02-26T05:00:00.000Z', 2, 2, true],
        ['2024-03-04T05:00:00.000Z', 1, 2, true],
        ['2024-03-11T04:00:00.000Z', 1, 1, true],
      ]],
      ['2024-03-04T05:00:00.000Z', 1, [
        ['2024-03-04T05:00:00.000Z', 1, 1, true],
        ['2024-03-11T04:00:00.000Z', 1, 1, true],
        ['2024-03-18T04:00:00.000Z', 0, 0, false],
      ]],
    ]);
  });

  it('puts the same purchases in other UTC weeks', async () => {
    const r = await cohorts('grain: WEEK, from: "2024-02-26T00:00:00Z", to: "2024-03-11T00:00:00Z", periods: 1, asOf: "2024-03-20T00:00:00Z"');
    expect(cells(r)).toEqual([
      ['2024-02-26T00:00:00.000Z', 1, [['2024-02-26T00:00:00.000Z', 1, 1, true], ['2024-03-04T00:00:00.000Z', 0, 1, true]]],
      ['2024-03-04T00:00:00.000Z', 2, [['2024-03-04T00:00:00.000Z', 2, 2, true], ['2024-03-11T00:00:00.000Z', 2, 2, true]]],
    ]);
  });

  it('has a cohort on the leap day', async () => {
    const r = await cohorts('grain: DAY, from: "2024-02-28T00:00:00Z", to: "2024-03-01T00:00:00Z", periods: 1, asOf: "2024-03-20T00:00:00Z"');
    expect(cells(r)).toEqual([['2024-02-29T00:00:00.000Z', 1, [['2024-02-29T00:00:00.000Z', 1, 1, true], ['2024-03-01T00:00:00.000Z', 0, 1, true]]]]);
  });

  it('counts an offset timestamp in the UTC quarter it falls in', async () => {
    const r = await cohorts('grain: QUARTER, from: "2024-01-01T00:00:00Z", to: "2024-04-01T00:00:00Z", periods: 1, asOf: "2024-04-15T00:00:00Z"');
    expect(cells(r)).toEqual([['2024-01-01T00:00:00.000Z', 4, [['2024-01-01T00:00:00.000Z', 4, 4, true], ['2024-04-01T00:00:00.000Z', 1, 1, false]]]]);
  });

  it('counts it in the previous local year in New York', async () => {
    const r = await cohorts('grain: YEAR, timezone: "America/New_York", from: "2023-01-01T05:00:00Z", to: "2024-01-01T05:00:00Z", periods: 1, asOf: "2024-04-15T00:00:00Z"');
    expect(cells(r)).toEqual([['2023-01-01T05:00:00.000Z', 1, [['2023-01-01T05:00:00.000Z', 1, 1, true], ['2024-01-01T05:00:00.000Z', 1, 1, false]]]]);
  });

  it('omits cells after asOf and returns no cohorts for an empty window', async () => {
    const r = await cohorts('grain: MONTH, from: "2024-03-01T00:00:00Z", to: "2024-04-01T00:00:00Z", periods: 3, asOf: "2024-03-20T00:00:00Z"');
    // p, q first bought in March (UTC); April and later start after asOf.
    expect(cells(r)).toEqual([['2024-03-01T00:00:00.000Z', 2, [['2024-03-01T00:00:00.000Z', 2, 2, false]]]]);
    const empty = await cohorts('from: "2030-01-01T00:00:00Z", to: "2031-01-01T00:00:00Z"');
    expect(empty.data.retentionCohorts.cohorts).toEqual([]);
  });

  it('numbers DAY periods over the dates a zone has: Samoa skipped 2011-12-30, so the 31st follows the 29th', async () => {
    // Pacific/Apia moved from UTC-10 to UTC+14 at 2011-12-30T10:00Z: 29 Dec local starts at
    // 2011-12-29T10:00Z, 31 Dec at 2011-12-30T10:00Z and 1 Jan 2012 at 2011-12-31T10:00Z. Customer
    // apia buys on 29 Dec (12:00Z, 02:00 local) and on 31 Dec (next day 12:00Z, 02:00 local).
    const body = [['apia1', '2011-12-29T12:00:00Z'], ['apia2', '2011-12-30T12:00:00Z']]
      .map(([id, at]) => JSON.stringify({ type: 'purchase', eventId: id, customerId: 'apia', occurredAt: at, amount: '10', currency: 'USD' }))
      .join('\n');
    await fetch(`${svc.url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body });
    const zone = 'timezone: "Pacific/Apia", asOf: "2012-01-10T00:00:00Z"';
    const window = `grain: DAY, from: "2011-12-29T10:00:00Z", to: "2011-12-31T10:00:00Z", ${zone}`;
    // Two periods start in the window, 29 and 31 Dec; the 31st's previous period is the 29th.
    const rate = await svc.gql(`{ retentionRate(${window}) { periodStart previousCustomers retainedCustomers rate churnRate } }`);
    expect(rate.errors).toBeUndefined();
    expect(rate.data.retentionRate).toEqual([
      { periodStart: '2011-12-29T10:00:00.000Z', previousCustomers: 0, retainedCustomers: 0, rate: null, churnRate: null },
      { periodStart: '2011-12-30T10:00:00.000Z', previousCustomers: 1, retainedCustomers: 1, rate: 1, churnRate: 0 },
    ]);
    // The raw purchases' arithmetic agrees with the customer state's (each purchase's instant).
    const args = { grain: Grain.DAY, from: new Date('2011-12-29T10:00:00Z'), to: new Date('2011-12-31T10:00:00Z'), asOf: new Date('2012-01-10T00:00:00Z'), timezone: 'Pacific/Apia' };
    const both = await Promise.all((['raw', 'auto'] as const).map((source) => svc.exec.rows(periodRetentionSql(args, source), { requestId: 'test' })));
    expect(both[0]).toEqual(both[1]);
    const r = await cohorts(`grain: DAY, from: "2011-12-29T10:00:00Z", to: "2011-12-30T10:00:00Z", periods: 2, ${zone}`);
    expect(r.errors).toBeUndefined();
    expect(cells(r)).toEqual([
      ['2011-12-29T10:00:00.000Z', 1, [
        ['2011-12-29T10:00:00.000Z', 1, 1, true],
        ['2011-12-30T10:00:00.000Z', 1, 1, true],
        ['2011-12-31T10:00:00.000Z', 0, 0, true],
      ]],
    ]);
    // CLV: the same cohort's cells, and churn 1 - 1/1 = 0, so no expected lifetime and no CLV.
    const clv = await svc.gql(`{ customerLifetimeValue(${window}, periods: 2, currency: "USD") {
      activeCustomerPeriods churnRate expectedLifetimePeriods clv cohorts { cohortStart cells { offset periodStart revenue } } } }`);
    expect(clv.errors).toBeUndefined();
    expect(clv.data.customerLifetimeValue).toEqual({
      activeCustomerPeriods: 2,
      churnRate: 0,
      expectedLifetimePeriods: null,
      clv: null,
      cohorts: [{
        cohortStart: '2011-12-29T10:00:00.000Z',
        cells: [
          { offset: 0, periodStart: '2011-12-29T10:00:00.000Z', revenue: 10 },
          { offset: 1, periodStart: '2011-12-30T10:00:00.000Z', revenue: 10 },
          { offset: 2, periodStart: '2011-12-31T10:00:00.000Z', revenue: 0 },
        ],
      }],
    });
  });

  it('bounds the periods of a window in any zone, so the one-mask retention never overflows', async () => {
    // The engine's own count of periods (one row each) against maxPeriodsIn, for windows of about
    // 60 periods: across New York's DST changes, Kathmandu's :45 offset and the date Samoa skipped.
    const DAY = 86_400_000;
    const windows: [Grain, string, string, number][] = [
      [Grain.DAY, 'Pacific/Apia', '2011-11-05T00:00:00Z', 56 * DAY],
      [Grain.DAY, 'America/New_York', '2024-02-01T00:00:00Z', 56 * DAY],
      [Grain.WEEK, 'America/New_York', '2023-01-01T00:00:00Z', 60 * 7 * DAY],
      [Grain.MONTH, 'Asia/Kathmandu', '2020-01-15T00:00:00Z', 1700 * DAY],
      [Grain.MONTH, 'UTC', '2020-01-01T00:00:00Z', 1675 * DAY],
    ];
    for (const [grain, timezone, fromText, span] of windows) {
      const from = new Date(fromText);
      const to = new Date(from.getTime() + span);
      const query = periodRetentionSql({ grain, from, to, asOf: new Date('2030-01-01T00:00:00Z'), timezone }, 'raw');
      // One row (per key; no breakdown here) with the start of every period of the window.
      const [row] = await svc.exec.rows<{ starts: string[] }>(query, { requestId: 'test' });
      expect(row!.starts.length, `${grain} ${timezone}`).toBeLessThanOrEqual(maxPeriodsIn(grain, from, to));
      expect(row!.starts.length).toBeGreaterThan(50);
      expect(query.query.includes('bitPositionsToArray'), `${grain} ${timezone}`).toBe(maxPeriodsIn(grain, from, to) <= 63);
    }
  });
});
