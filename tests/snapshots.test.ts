import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createKpiClient,
  IngestPurchasesDocument,
  IngestSurveyResponsesDocument,
  KpiClientError,
  KpiSnapshotDocument,
  KpiSnapshotsDocument,
  LatestKpiSnapshotDocument,
  TakeSnapshotDocument,
  type KpiClient,
  type KpiSnapshotFieldsFragment,
} from '../client/index.js';
import { hashKey } from '../server/auth.js';
import { ConfigError, loadConfig } from '../server/config.js';
import { EventWriter } from '../server/ingest/writer.js';
import { features } from '../server/features.js';
import { createLogger } from '../server/logger.js';
import { windowAt } from '../loaders/snapshot-window.js';
import { FakeClock } from './helpers/fake-clock.js';
import { insertPurchases } from './helpers/events.js';
import { waitFor } from '../scripts/lib/process.js';
import { startTestService, testConfig, type TestService } from './helpers/service.js';
import { checkSnapshotName } from '../loaders/kpi-snapshots.js';

const DATABASE = 't_snapshots';
const ADMIN = 'admin-key-0123456789';
const READER = 'reader-key-0123456789';
const PIPELINE = 'pipeline-key-0123456789';
const API_KEYS = [`ops:admin:${ADMIN}`, `dash:read:sha256:${hashKey(READER).toString('hex')}`, `pipe:ingest:${PIPELINE}`].join(',');

function withoutGeneratedAt(s: KpiSnapshotFieldsFragment) {
  const { generatedAt: _g, ...rest } = s;
  return rest;
}

describe('SNAPSHOT_SCHEDULE', () => {
  it('is off by default and parses named entries with options', () => {
    expect(loadConfig({}).snapshotSchedule).toEqual([]);
    expect(loadConfig({ SNAPSHOT_SCHEDULE: 'trailing-30d@daily; board=last-quarter@monthly,grain=WEEK,currency=EUR' }).snapshotSchedule).toEqual([
      { name: 'trailing-30d', window: { kind: 'trailing', ms: 30 * 86_400_000 }, cadence: 'day', grain: 'MONTH', currency: undefined },
      { name: 'board', window: { kind: 'last', unit: 'quarter' }, cadence: 'month', grain: 'WEEK', currency: 'EUR' },
    ]);
  });

  it('reports every bad entry by position with the reason', () => {
    let error: ConfigError | undefined;
    try {
      loadConfig({ SNAPSHOT_SCHEDULE: 'trailing-30x@daily;a=last-month@sometimes;b=last-week@weekly,grain=constructor;c=last-day;d=last-day@daily;d=trailing-0h@hourly' });
    } catch (e) {
      error = e as ConfigError;
    }
    expect(error?.problems.slice(0, -1)).toEqual([
      'SNAPSHOT_SCHEDULE entry 1 ("trailing-30x@daily"): unknown window "trailing-30x" (expected trailing-<N>h, trailing-<N>d, trailing-<N>w or last-hour, last-day, last-week, last-month, last-quarter, last-year)',
      'SNAPSHOT_SCHEDULE entry 2 ("a=last-month@sometimes"): unknown cadence "sometimes" (expected hourly, daily, weekly, monthly, quarterly, yearly)',
      'SNAPSHOT_SCHEDULE entry 3 ("b=last-week@weekly,grain=constructor"): grain "constructor" is not one of DAY, WEEK, MONTH, QUARTER, YEAR',
      'SNAPSHOT_SCHEDULE entry 4 ("c=last-day"): missing "@cadence"',
      'SNAPSHOT_SCHEDULE entry 6 ("d=trailing-0h@hourly"): window "trailing-0h" must span 1 hour to 3660 days',
    ]);
    expect(error?.problems.at(-1)).toMatch(/^SNAPSHOT_SCHEDULE syntax: \[name=\]window@cadence/);
    expect(() => loadConfig({ SNAPSHOT_SCHEDULE: 'x=last-day@daily;x=last-week@weekly' })).toThrow('SNAPSHOT_SCHEDULE entry 2 ("x=last-week@weekly"): name "x" is used twice');
    // The same name rule as takeSnapshot's.
    expect(() => loadConfig({ SNAPSHOT_SCHEDULE: '_x=last-day@daily' })).toThrow(
      'SNAPSHOT_SCHEDULE entry 1 ("_x=last-day@daily"): name must be 1..128 characters of letters, digits, "_", ".", ":" or "-", starting with a letter or digit (got "_x")',
    );
    expect(() => checkSnapshotName('_x')).toThrow('"name" must be 1..128 characters of letters, digits, "_", ".", ":" or "-", starting with a letter or digit (got "_x")');
  });

  it('covers whole UTC calendar periods before the run for last-<unit> windows', () => {
    const at = new Date('2024-04-01T00:00:00Z');
    const iso = (w: { from: Date; to: Date }) => [w.from.toISOString(), w.to.toISOString()];
    expect(iso(windowAt({ kind: 'last', unit: 'month' }, at))).toEqual(['2024-03-01T00:00:00.000Z', '2024-04-01T00:00:00.000Z']);
    expect(iso(windowAt({ kind: 'last', unit: 'week' }, at))).toEqual(['2024-03-25T00:00:00.000Z', '2024-04-01T00:00:00.000Z']);
    expect(iso(windowAt({ kind: 'last', unit: 'quarter' }, at))).toEqual(['2024-01-01T00:00:00.000Z', '2024-04-01T00:00:00.000Z']);
    expect(iso(windowAt({ kind: 'last', unit: 'year' }, at))).toEqual(['2023-01-01T00:00:00.000Z', '2024-01-01T00:00:00.000Z']);
    expect(iso(windowAt({ kind: 'trailing', ms: 86_400_000 }, at))).toEqual(['2024-03-31T00:00:00.000Z', '2024-04-01T00:00:00.000Z']);
  });
});

// Purchases (USD, amount): a: Jan 20 (7), Feb 20 (10), Mar 05 (20)   b: Mar 01 (15), Mar 10 (5)
//                          c: Jan 10 (12), Mar 12 (8)                 d: Mar 20 (30)
// NPS: x 10 on Mar 02, y 3 on Mar 03.
describe('persisted KPI snapshots', () => {
  let svc: TestService;
  let admin: KpiClient;
  let appNow = new Date('2024-04-10T12:00:00.000Z');

  beforeAll(async () => {
    svc = await startTestService(DATABASE, { API_KEYS }, () => appNow);
    admin = createKpiClient({ url: `${svc.url}/graphql`, apiKey: ADMIN });
    await insertPurchases(svc.exec, [
      ['a', '2024-01-20T12:00:00Z', '7'], ['a', '2024-02-20T12:00:00Z', '10'], ['a', '2024-03-05T12:00:00Z', '20'],
      ['b', '2024-03-01T12:00:00Z', '15'], ['b', '2024-03-10T12:00:00Z', '5'],
      ['c', '2024-01-10T12:00:00Z', '12'], ['c', '2024-03-12T12:00:00Z', '8'],
      ['d', '2024-03-20T12:00:00Z', '30'],
    ]);
    const surveys = await createKpiClient({ url: `${svc.url}/graphql`, apiKey: PIPELINE }).request(IngestSurveyResponsesDocument, {
      events: [
        { eventId: 's1', customerId: 'x', surveyId: 'q1', kind: 'NPS', score: 10, occurredAt: '2024-03-02T09:00:00Z' },
        { eventId: 's2', customerId: 'y', surveyId: 'q1', kind: 'NPS', score: 3, occurredAt: '2024-03-03T09:00:00+01:00' },
      ],
    });
    expect(surveys.ingestSurveyResponses).toEqual({ accepted: 2, duplicates: 0, rejectedCount: 0, rejected: [] });
  });
  afterAll(async () => {
    await svc?.stop();
  });

  const latest = async (name: string) => (await admin.request(LatestKpiSnapshotDocument, { name })).latestKpiSnapshot;

  it('takes scheduled snapshots at the start of each cadence, with the values kpiSnapshot gives for that window', async () => {
    const clock = new FakeClock(Date.parse('2024-03-14T10:00:00Z'));
    const config = testConfig(DATABASE, { SNAPSHOT_SCHEDULE: 'trailing-30d@daily; board=last-month@monthly,grain=WEEK' });
    const scheduled = await features({ config, exec: svc.exec, writer: new EventWriter(svc.exec), log: createLogger('silent'), clock });
    try {
      // The alert scheduler's hourly wake-up fires on the way (no alerts: it does nothing); no snapshot yet.
      clock.set('2024-03-14T23:59:59.999Z');
      expect(await latest('trailing-30d')).toBeNull();

      clock.set('2024-03-15T00:00:00.000Z');
      const daily = await waitFor('the daily snapshot', async () => (await latest('trailing-30d')) ?? undefined);
      expect(daily).toMatchObject({ name: 'trailing-30d', createdAt: '2024-03-15T00:00:00.000Z', definitionsVersion: 4 });
      // Window [Feb 14, Mar 15): a (Feb 20, Mar 05), b (Mar 01, Mar 10), c (Mar 12); new (first purchase ever inside): b only.
      expect(daily.snapshot).toMatchObject({
        from: '2024-02-14T00:00:00.000Z', to: '2024-03-15T00:00:00.000Z', asOf: '2024-03-15T00:00:00.000Z', grain: 'MONTH', currency: 'USD',
        customers: 3, newCustomers: 1, orders: 5, repeatPurchaseRate: 2 / 3, revenue: 58, averageOrderValue: 58 / 5, nps: 0,
      });
      const live = await admin.request(KpiSnapshotDocument, { from: daily.snapshot.from, to: daily.snapshot.to, grain: 'MONTH', asOf: daily.snapshot.asOf });
      expect(withoutGeneratedAt(daily.snapshot)).toEqual(withoutGeneratedAt(live.kpiSnapshot));
      expect(await latest('board')).toBeNull();

      // Two weeks of daily boundaries pass at once: one run, for the latest boundary.
      clock.set('2024-04-01T00:00:00.000Z');
      const board = await waitFor('the monthly snapshot', async () => (await latest('board')) ?? undefined);
      expect(board.createdAt).toBe('2024-04-01T00:00:00.000Z');
      expect(board.snapshot).toMatchObject({ from: '2024-03-01T00:00:00.000Z', to: '2024-04-01T00:00:00.000Z', grain: 'WEEK', customers: 4, orders: 5, revenue: 78 });
      const boardLive = await admin.request(KpiSnapshotDocument, { from: '2024-03-01T00:00:00Z', to: '2024-04-01T00:00:00Z', grain: 'WEEK', asOf: '2024-04-01T00:00:00Z' });
      expect(withoutGeneratedAt(board.snapshot)).toEqual(withoutGeneratedAt(boardLive.kpiSnapshot));
      await waitFor('the second daily snapshot', async () => ((await latest('trailing-30d'))?.createdAt === '2024-04-01T00:00:00.000Z' ? true : undefined));
      const history = await admin.request(KpiSnapshotsDocument, { name: 'trailing-30d' });
      expect(history.kpiSnapshots.edges.map((e) => [e.node.createdAt, e.node.snapshot.from])).toEqual([
        ['2024-04-01T00:00:00.000Z', '2024-03-02T00:00:00.000Z'],
        ['2024-03-15T00:00:00.000Z', '2024-02-14T00:00:00.000Z'],
      ]);
    } finally {
      await scheduled.stop();
    }
  });

  it('keeps a stored snapshot as it was when events arrive later', async () => {
    const window = { from: '2024-03-01T00:00:00Z', to: '2024-04-01T00:00:00Z', asOf: '2024-04-10T00:00:00Z' };
    const { takeSnapshot: stored } = await admin.request(TakeSnapshotDocument, { name: 'adhoc', ...window });
    expect(stored).toMatchObject({ name: 'adhoc', createdAt: appNow.toISOString(), definitionsVersion: 4 });
    expect(stored.snapshot).toMatchObject({ customers: 4, orders: 5, revenue: 78, generatedAt: appNow.toISOString() });

    const late = await admin.request(IngestPurchasesDocument, {
      events: [{ eventId: 'late-1', customerId: 'e', occurredAt: '2024-03-28T12:00:00Z', amount: '100.5', currency: 'USD' }],
    });
    expect(late.ingestPurchases.accepted).toBe(1);
    const live = await admin.request(KpiSnapshotDocument, window);
    expect(live.kpiSnapshot).toMatchObject({ customers: 5, orders: 6, revenue: 178.5 });
    expect(await latest('adhoc')).toEqual(stored);
  });

  it('pages through the history newest first with cursors', async () => {
    const ids: string[] = [];
    for (const day of ['01', '02', '03']) {
      appNow = new Date(`2024-05-${day}T08:00:00.000Z`);
      const r = await admin.request(TakeSnapshotDocument, { name: 'paged', from: '2024-04-01T00:00:00Z', to: '2024-05-01T00:00:00Z' });
      ids.push(r.takeSnapshot.id);
    }
    const first = await admin.request(KpiSnapshotsDocument, { name: 'paged', first: 2 });
    expect(first.kpiSnapshots.edges.map((e) => e.node.id)).toEqual([ids[2], ids[1]]);
    expect(first.kpiSnapshots.pageInfo).toEqual({ hasNextPage: true, endCursor: first.kpiSnapshots.edges[1]!.cursor });
    const second = await admin.request(KpiSnapshotsDocument, { name: 'paged', first: 2, after: first.kpiSnapshots.pageInfo.endCursor });
    expect(second.kpiSnapshots.edges.map((e) => e.node.id)).toEqual([ids[0]]);
    expect(second.kpiSnapshots.pageInfo).toEqual({ hasNextPage: false, endCursor: second.kpiSnapshots.edges[0]!.cursor });

    const created = await admin.request(KpiSnapshotsDocument, { name: 'paged', from: '2024-05-02T00:00:00Z', to: '2024-05-03T08:00:00Z' });
    expect(created.kpiSnapshots.edges.map((e) => e.node.id)).toEqual([ids[1]]);
    expect((await admin.request(KpiSnapshotsDocument, { name: 'nothing-here' })).kpiSnapshots).toEqual({
      edges: [],
      pageInfo: { hasNextPage: false, endCursor: null },
    });

    const refused = (p: Promise<unknown>) => p.then(() => undefined, (e: KpiClientError) => [e.code, e.message]);
    expect(await refused(admin.request(KpiSnapshotsDocument, { name: 'paged', after: 'bogus' }))).toEqual([
      'BAD_USER_INPUT', 'BAD_USER_INPUT: "after" is not a cursor returned by kpiSnapshots',
    ]);
    expect(await refused(admin.request(KpiSnapshotsDocument, { name: 'paged', first: 0 }))).toEqual([
      'BAD_USER_INPUT', 'BAD_USER_INPUT: "first" must be an integer from 1 to 100 (got 0)',
    ]);
  });

  it('takes snapshots with an admin key only', async () => {
    const reader = createKpiClient({ url: `${svc.url}/graphql`, apiKey: READER });
    const vars = { name: 'paged', from: '2024-04-01T00:00:00Z', to: '2024-05-01T00:00:00Z' };
    await expect(reader.request(TakeSnapshotDocument, vars)).rejects.toMatchObject({ code: 'FORBIDDEN', status: 403 });
    expect((await reader.request(LatestKpiSnapshotDocument, { name: 'paged' })).latestKpiSnapshot?.createdAt).toBe('2024-05-03T08:00:00.000Z');
  });

  it('serves plain JSON with an ETag that changes only when a newer snapshot of the name is stored', async () => {
    const get = (path: string, headers: Record<string, string> = {}) =>
      fetch(`${svc.url}${path}`, { headers: { authorization: `Bearer ${READER}`, ...headers } });
    const first = await get('/v1/snapshots/latest?name=paged');
    expect(first.status).toBe(200);
    expect(first.headers.get('cache-control')).toBe('private, no-cache');
    const stored = (await latest('paged'))!;
    const etag = first.headers.get('etag')!;
    expect(etag).toBe(`"${stored.id}"`);
    const { snapshot, ...meta } = stored;
    expect(await first.json()).toEqual({ ...meta, ...snapshot });

    const again = await get('/v1/snapshots/latest?name=paged', { 'if-none-match': etag });
    expect([again.status, await again.text(), again.headers.get('etag')]).toEqual([304, '', etag]);

    appNow = new Date('2024-05-04T08:00:00.000Z');
    const newer = await admin.request(TakeSnapshotDocument, { name: 'paged', from: '2024-04-01T00:00:00Z', to: '2024-05-01T00:00:00Z' });
    const changed = await get('/v1/snapshots/latest?name=paged', { 'if-none-match': etag });
    expect(changed.status).toBe(200);
    expect(changed.headers.get('etag')).toBe(`"${newer.takeSnapshot.id}"`);
    expect(((await changed.json()) as { createdAt: string }).createdAt).toBe('2024-05-04T08:00:00.000Z');

    const byId = await get(`/v1/snapshots/${stored.id}`);
    expect([byId.status, byId.headers.get('etag'), byId.headers.get('cache-control')]).toEqual([200, etag, 'private, max-age=31536000, immutable']);
    expect(await byId.json()).toEqual({ ...meta, ...snapshot });
    expect((await get(`/v1/snapshots/${stored.id}`, { 'if-none-match': `W/${etag}, "other"` })).status).toBe(304);

    const status = async (path: string, headers: Record<string, string> = {}) => (await get(path, headers)).status;
    expect(await status('/v1/snapshots/00000000-0000-4000-8000-000000000000')).toBe(404);
    expect(await status('/v1/snapshots/latest?name=nothing-here')).toBe(404);
    expect(await status('/v1/snapshots/latest')).toBe(400);
    expect(await status('/v1/snapshots/latest?name=paged', { authorization: `Bearer ${PIPELINE}` })).toBe(403);
    expect(await status('/v1/snapshots/latest?name=paged', { authorization: '' })).toBe(401);
  });
});
