import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Grain } from '../loaders/grain.js';
import { createKpiClient, IngestPurchasesDocument, RepeatPurchaseRateDocument } from '../client/index.js';
import { EventWriter } from '../server/ingest/writer.js';
import { createLogger } from '../server/logger.js';
import { createMetrics } from '../server/metrics.js';
import { startSnapshotScheduler, type Clock } from '../server/snapshots/scheduler.js';
import { startTestService, type TestService } from './helpers/service.js';

const READER = 'reader-key-0123456789';
const PIPELINE = 'pipeline-key-0123456789';
const API_KEYS = `dash:read:${READER},pipe:ingest:${PIPELINE}`;

/** The value of one exact series line of the text exposition format. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('Prometheus metrics', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService('t_metrics', { API_KEYS });
  });
  afterAll(async () => {
    await svc?.stop();
  });

  const metrics = async () => {
    const res = await fetch(`${svc.url}/metrics`, { headers: { authorization: `Bearer ${READER}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    return res.text();
  };

  it('needs the read scope when keys are configured', async () => {
    expect((await fetch(`${svc.url}/metrics`)).status).toBe(401);
    expect((await fetch(`${svc.url}/metrics`, { headers: { authorization: `Bearer ${PIPELINE}` } })).status).toBe(403);
  });

  it('counts GraphQL operations, ingested events and ClickHouse statements', async () => {
    const reader = createKpiClient({ url: `${svc.url}/graphql`, apiKey: READER });
    const pipeline = createKpiClient({ url: `${svc.url}/graphql`, apiKey: PIPELINE });
    await reader.request(RepeatPurchaseRateDocument, { from: '2024-01-01T00:00:00Z', to: '2024-02-01T00:00:00Z' });
    await expect(reader.request(RepeatPurchaseRateDocument, { from: '2024-02-01T00:00:00Z', to: '2024-01-01T00:00:00Z' })).rejects.toMatchObject({
      code: 'BAD_USER_INPUT',
    });
    // Two new, one repeated in the same call, one invalid.
    const ingested = await pipeline.request(IngestPurchasesDocument, {
      events: [
        { eventId: 'g1', customerId: 'a', occurredAt: '2024-01-05T10:00:00Z', amount: 10, currency: 'USD' },
        { eventId: 'g2', customerId: 'b', occurredAt: '2024-01-06T10:00:00Z', amount: '5.5', currency: 'USD' },
        { eventId: 'g2', customerId: 'b', occurredAt: '2024-01-06T10:00:00Z', amount: '5.5', currency: 'USD' },
        { eventId: 'g3', customerId: 'c', occurredAt: '2024-01-07T10:00:00', amount: 1, currency: 'USD' },
      ],
    });
    expect([ingested.ingestPurchases.accepted, ingested.ingestPurchases.duplicates, ingested.ingestPurchases.rejected.length]).toEqual([2, 1, 1]);
    // One new, one already stored through GraphQL, one not JSON.
    const ndjson = [
      JSON.stringify({ type: 'purchase', eventId: 'h1', customerId: 'a', occurredAt: '2024-01-20T10:00:00Z', amount: 3, currency: 'USD' }),
      JSON.stringify({ type: 'purchase', eventId: 'g1', customerId: 'a', occurredAt: '2024-01-05T10:00:00Z', amount: 10, currency: 'USD' }),
      '{not json',
    ].join('\n');
    const http = await fetch(`${svc.url}/v1/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${PIPELINE}`, 'content-type': 'application/x-ndjson' },
      body: ndjson,
    });
    expect(await http.json()).toMatchObject({ accepted: 1, duplicates: 1 });
    // The ingest log inserts behind the acknowledgements: wait until it did, so the inserts are counted.
    await svc.exec.caughtUp({ requestId: 't' });

    const text = await metrics();
    expect(sample(text, 'kpi_graphql_requests_total{operation="RepeatPurchaseRate",type="query",result="success"}')).toBe(1);
    expect(sample(text, 'kpi_graphql_requests_total{operation="RepeatPurchaseRate",type="query",result="error"}')).toBe(1);
    expect(sample(text, 'kpi_graphql_requests_total{operation="IngestPurchases",type="mutation",result="success"}')).toBe(1);
    expect(sample(text, 'kpi_graphql_request_duration_seconds_count{operation="RepeatPurchaseRate",type="query"}')).toBe(2);
    expect(sample(text, 'kpi_ingest_events_total{source="graphql",outcome="accepted"}')).toBe(2);
    expect(sample(text, 'kpi_ingest_events_total{source="graphql",outcome="duplicate"}')).toBe(1);
    expect(sample(text, 'kpi_ingest_events_total{source="graphql",outcome="rejected"}')).toBe(1);
    expect(sample(text, 'kpi_ingest_events_total{source="http",outcome="accepted"}')).toBe(1);
    expect(sample(text, 'kpi_ingest_events_total{source="http",outcome="duplicate"}')).toBe(1);
    expect(sample(text, 'kpi_ingest_events_total{source="http",outcome="rejected"}')).toBe(1);
    expect(sample(text, 'kpi_clickhouse_query_duration_seconds_count{statement="select",result="ok"}')).toBeGreaterThan(0);
    expect(sample(text, 'kpi_clickhouse_query_duration_seconds_count{statement="insert",result="ok"}')).toBeGreaterThan(0);
    expect(text).toMatch(/^# TYPE process_cpu_user_seconds_total counter$/m);
  });

  it('reports the most active parts in one partition of each table', async () => {
    // With merges stopped, each insert stays one part: three separate 2025 purchases make three
    // parts in purchases' 2025 partition, whatever the table held before (other years).
    await svc.exec.command('SYSTEM STOP MERGES {db:Identifier}.purchases', { requestId: 't' });
    try {
      for (const id of ['p1', 'p2', 'p3']) {
        const body = JSON.stringify({ type: 'purchase', eventId: id, customerId: 'z', occurredAt: '2025-03-01T10:00:00Z', amount: 1, currency: 'USD' });
        const res = await fetch(`${svc.url}/v1/events`, { method: 'POST', headers: { authorization: `Bearer ${PIPELINE}`, 'content-type': 'application/x-ndjson' }, body });
        expect(await res.json()).toMatchObject({ accepted: 1 });
        // Each its own insert: the ingest log would otherwise insert groups acknowledged meanwhile together.
        await svc.exec.caughtUp({ requestId: 't' });
      }
      expect(sample(await metrics(), 'kpi_ingest_log_pending_events')).toBe(0);
      const text = await metrics();
      expect(sample(text, 'kpi_clickhouse_partition_parts_max{table="purchases"}')).toBe(3);
      expect(sample(text, 'kpi_clickhouse_partition_parts_max{table="webhooks"}')).toBeUndefined();
    } finally {
      await svc.exec.command('SYSTEM START MERGES {db:Identifier}.purchases', { requestId: 't' });
    }
  });

  it('counts scheduled snapshot runs in a registry of its own', async () => {
    // A second registry in the same process as the service's: prom-client's global registry would refuse the names twice.
    const own = createMetrics(svc.exec, new EventWriter(svc.exec));
    let now = new Date('2024-02-15T00:00:00Z');
    let fire: (() => void) | undefined;
    const clock: Clock = { now: () => now, setTimer: (_ms, fn) => ((fire = fn), () => undefined) };
    const scheduler = startSnapshotScheduler([{ name: 'm', window: { kind: 'last', unit: 'month' }, cadence: 'month', grain: Grain.MONTH, currency: undefined }], {
      exec: svc.exec,
      log: createLogger('silent'),
      clock,
      reportingCurrency: 'USD',
      grossMargin: 1,
      onResult: own.snapshotJob,
    });
    now = new Date('2024-03-01T00:00:00Z');
    fire!();
    await scheduler.stop();
    const text = await own.registry.metrics();
    own.stop();
    expect(sample(text, 'kpi_snapshot_jobs_total{name="m",result="success"}')).toBe(1);
    expect(sample(text, 'kpi_snapshot_job_duration_seconds_count{name="m"}')).toBe(1);
    expect(sample(await metrics(), 'kpi_snapshot_jobs_total{name="m",result="success"}')).toBeUndefined();
  });
});
