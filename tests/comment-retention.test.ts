import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../server/logger.js';
import { startService, type Service } from '../server/service.js';
import { applyCommentRetention, commentRetentionDdl, commentsPastRetention, storedCommentRetention } from '../server/storage/comment-retention.js';
import type { Executor } from '../server/storage/executor.js';
import { FakeClock } from './helpers/fake-clock.js';
import { startTestService, testConfig, type TestService } from './helpers/service.js';

const ctx = { requestId: 'test' };

/**
 * Survey rows of known ages: the engine's TTL compares with its own clock, so the rows are
 * dated far from any day the tests run on: 1975 and 1976 are past any retention below (at
 * most 365 days), 2090 is in the future.
 */
async function insertSurveys(exec: Executor, rows: [id: string, occurredAt: string, score: number, comment: string | null][]): Promise<void> {
  await exec.insert(
    'survey_responses',
    rows.map(([id, at, score, comment]) => ({ event_id: id, customer_id: `c-${id}`, survey_id: 'nps-q1', kind: 'NPS', score, occurred_at: at, comment })),
    ctx,
  );
}

async function surveys(exec: Executor): Promise<{ id: string; score: number; comment: string | null }[]> {
  return exec.rows({ query: 'SELECT event_id AS id, score, comment FROM {db:Identifier}.survey_responses ORDER BY event_id', query_params: {} }, ctx);
}

async function mutations(exec: Executor): Promise<number> {
  const [row] = await exec.rows<{ n: number }>(
    { query: "SELECT count() AS n FROM system.mutations WHERE database = {db:String} AND table = 'survey_responses'", query_params: {} },
    ctx,
  );
  return row!.n;
}

describe('survey comment retention, on the engine', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService('t_comment_retention');
    await insertSurveys(svc.exec, [
      ['s1', '1975-03-01 10:00:00', 2, 'slow delivery'],
      ['s2', '1975-04-01 10:00:00', 9, null],
      ['s3', '2090-01-01 10:00:00', 10, 'great'],
    ]);
  });
  afterAll(async () => {
    await svc?.stop();
  });

  it('keeps comments forever by default', async () => {
    expect(await storedCommentRetention(svc.exec)).toBeUndefined();
    expect((await surveys(svc.exec)).map((r) => r.comment)).toEqual(['slow delivery', null, 'great']);
  });

  it('removes the comments older than the limit once set, and keeps every score', async () => {
    expect(await applyCommentRetention(svc.exec, 30, { wait: true })).toEqual({ from: undefined, to: 30, changed: true });
    expect(await storedCommentRetention(svc.exec)).toBe(30);
    expect(await surveys(svc.exec)).toEqual([
      { id: 's1', score: 2, comment: null },
      { id: 's2', score: 9, comment: null },
      { id: 's3', score: 10, comment: 'great' },
    ]);
    expect(await commentsPastRetention(svc.exec, 30)).toBe(0);
  });

  it('alters the table only when the limit changes', async () => {
    const before = await mutations(svc.exec);
    expect(await applyCommentRetention(svc.exec, 30)).toEqual({ from: 30, to: 30, changed: false });
    expect(await mutations(svc.exec)).toBe(before);
    expect(await applyCommentRetention(svc.exec, 365, { wait: true })).toEqual({ from: 30, to: 365, changed: true });
    expect(await storedCommentRetention(svc.exec)).toBe(365);
  });

  it('counts a late comment past the limit until a TTL merge or MATERIALIZE TTL removes it', async () => {
    // Stopped so the count is not raced by the background TTL merge of the new part.
    await svc.exec.command('SYSTEM STOP TTL MERGES {db:Identifier}.survey_responses', ctx);
    try {
      await insertSurveys(svc.exec, [['s4', '1976-05-01 10:00:00', 7, 'late text']]);
      expect(await commentsPastRetention(svc.exec, 365)).toBe(1);
      await svc.exec.command('ALTER TABLE {db:Identifier}.survey_responses MATERIALIZE TTL', ctx, { mutations_sync: '2' });
      expect(await commentsPastRetention(svc.exec, 365)).toBe(0);
      expect((await surveys(svc.exec)).find((r) => r.id === 's4')).toEqual({ id: 's4', score: 7, comment: null });
    } finally {
      await svc.exec.command('SYSTEM START TTL MERGES {db:Identifier}.survey_responses', ctx);
    }
  });

  it('sets the TTL on every shard\'s local table on a cluster', async () => {
    const formatted = async (sql: string) =>
      (await svc.exec.rows<{ f: string }>({ query: 'SELECT formatQuerySingleLine({q:String}) AS f', query_params: { q: sql } }, ctx))[0]!.f;
    expect(await formatted(commentRetentionDdl('kpi', 'c1', 30))).toBe(
      'ALTER TABLE kpi.survey_responses_local ON CLUSTER c1 (MODIFY COLUMN `comment` Nullable(String) TTL occurred_at + toIntervalDay(30))',
    );
    expect(await formatted(commentRetentionDdl('kpi', 'c1', undefined))).toBe('ALTER TABLE kpi.survey_responses_local ON CLUSTER c1 (MODIFY COLUMN `comment` REMOVE TTL)');
  });

  it('keeps comments forever again when the limit is unset', async () => {
    expect(await applyCommentRetention(svc.exec, undefined)).toEqual({ from: 365, to: undefined, changed: true });
    expect(await storedCommentRetention(svc.exec)).toBeUndefined();
  });
});

describe('COMMENT_RETENTION_DAYS in the service', () => {
  let svc: Service;
  const clock = new FakeClock(Date.parse('2026-02-01T08:00:00Z'));
  beforeAll(async () => {
    svc = await startService(testConfig('t_comment_retention_svc', { COMMENT_RETENTION_DAYS: '90' }), createLogger('silent'), { clock });
  });
  afterAll(async () => {
    await svc?.stop();
  });

  const metric = async (name: string) => {
    const text = await (await fetch(`${svc.url}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${name} `));
    return line === undefined ? undefined : Number(line.slice(name.length + 1));
  };

  it('makes the table enforce it at start and shows it in /metrics', async () => {
    expect(await storedCommentRetention(svc.exec)).toBe(90);
    expect(await metric('kpi_comment_retention_days')).toBe(90);
    expect(await metric('kpi_comment_retention_checked_timestamp_seconds')).toBe(Date.parse('2026-02-01T08:00:00Z') / 1000);
    expect(await metric('kpi_comments_past_retention')).toBe(0);
  });

  it('counts in /metrics the comments past the limit that are still stored', async () => {
    await svc.exec.command('SYSTEM STOP TTL MERGES {db:Identifier}.survey_responses', ctx);
    try {
      await insertSurveys(svc.exec, [
        ['m1', '1975-03-01 10:00:00', 3, 'too old'],
        ['m2', '1975-03-02 10:00:00', 4, null],
        ['m3', '2090-01-01 10:00:00', 10, 'future'],
      ]);
      expect(await metric('kpi_comments_past_retention')).toBe(1);
      await svc.exec.command('ALTER TABLE {db:Identifier}.survey_responses MATERIALIZE TTL', ctx, { mutations_sync: '2' });
      expect(await metric('kpi_comments_past_retention')).toBe(0);
    } finally {
      await svc.exec.command('SYSTEM START TTL MERGES {db:Identifier}.survey_responses', ctx);
    }
  });
});
