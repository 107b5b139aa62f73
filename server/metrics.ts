import type { ApolloServerPlugin } from '@apollo/server';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Route } from './app.js';
import type { Context } from '../schema/context.js';
import type { Executor } from './storage/executor.js';
import type { EventWriter } from './ingest/writer.js';
import type { SnapshotJobResult } from './snapshots/scheduler.js';
import { commentsPastRetention } from './storage/comment-retention.js';
import { activePartsByTable } from './storage/parts.js';
import { SHARED_ANSWER_HEADER } from './shared-reads.js';
import { sendError } from './http.js';

/**
 * Operation names come from clients: past this many distinct ones, further names share
 * one label value, so a client inventing names cannot grow the series without bound.
 */
const MAX_OPERATION_NAMES = 100;
const STATEMENTS = new Set(['select', 'insert', 'create', 'alter', 'drop']);

export interface Metrics {
  registry: Registry;
  plugin: ApolloServerPlugin<Context>;
  route: Route;
  snapshotJob(r: SnapshotJobResult): void;
  stop(): void;
}

/** COMMENT_RETENTION_DAYS (undefined: forever), and when this process last made the table enforce it. */
export interface CommentRetentionStatus {
  days: number | undefined;
  checkedAt: Date | undefined;
}

/** One registry per service (never prom-client's global one), exposed at GET /metrics. */
export function createMetrics(exec: Executor, writer: EventWriter, retention: CommentRetentionStatus = { days: undefined, checkedAt: undefined }): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const requests = new Counter({
    name: 'kpi_graphql_requests_total',
    help: 'GraphQL requests by operation name, type and result (error: the response carries errors).',
    labelNames: ['operation', 'type', 'result'] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'kpi_graphql_request_duration_seconds',
    help: 'GraphQL request latency from parse to response, by operation name and type.',
    labelNames: ['operation', 'type'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const sharedAnswers = new Counter({
    name: 'kpi_graphql_shared_answers_total',
    help: 'GraphQL queries answered with the answer of an identical query that was running (GRAPHQL_SHARE_WINDOW_MS), by operation name; they are counted in kpi_graphql_requests_total too.',
    labelNames: ['operation'] as const,
    registers: [registry],
  });
  const ingested = new Counter({
    name: 'kpi_ingest_events_total',
    help: 'Ingested events by source (http: POST /v1/events, graphql: mutations) and outcome (accepted, duplicate, rejected).',
    labelNames: ['source', 'outcome'] as const,
    registers: [registry],
  });
  const queries = new Histogram({
    name: 'kpi_clickhouse_query_duration_seconds',
    help: 'ClickHouse statement durations by statement kind and result.',
    labelNames: ['statement', 'result'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const jobs = new Counter({
    name: 'kpi_snapshot_jobs_total',
    help: 'Scheduled snapshot runs by snapshot name and result.',
    labelNames: ['name', 'result'] as const,
    registers: [registry],
  });
  const jobDuration = new Histogram({
    name: 'kpi_snapshot_job_duration_seconds',
    help: 'Scheduled snapshot run durations by snapshot name.',
    labelNames: ['name'] as const,
    buckets: [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [registry],
  });
  const repairs = new Counter({
    name: 'kpi_state_repairs_total',
    help: 'Hash partitions of a pre-aggregated state rebuilt from the raw tables because they differed (after a crash or a failed write), by state table.',
    labelNames: ['table'] as const,
    registers: [registry],
  });
  const erasures = new Counter({
    name: 'kpi_erasures_total',
    help: 'Erasures this process finished (spec section 16), new ones and ones a crash had interrupted; a repeated erasure that found nothing left is not counted.',
    registers: [registry],
  });
  const erasedEvents = new Counter({
    name: 'kpi_erased_events_total',
    help: 'Events, of every type, deleted by the erasures this process finished.',
    registers: [registry],
  });
  new Gauge({
    name: 'kpi_erasure_unfinished',
    help: '1 while an erasure is on record and not finished (writes wait for it), else 0.',
    registers: [registry],
    collect() {
      this.set(writer.erasures.unfinished ? 1 : 0);
    },
  });
  new Gauge({
    name: 'kpi_ingest_writer',
    help: '1 while this process may store events (INGEST on and, against a ClickHouse server, holding the writer lease), else 0.',
    registers: [registry],
    collect() {
      let writes = 1;
      try {
        writer.assertMayWrite('metrics');
      } catch {
        writes = 0;
      }
      this.set(writes);
    },
  });
  new Gauge({
    name: 'kpi_ingest_log_pending_events',
    help: 'Events acknowledged from the ingest log and not yet inserted into the tables (INGEST_LOG; always 0 without it). Reads wait for those acknowledged before them; past 200000 new writes wait too.',
    registers: [registry],
    collect() {
      this.set(writer.pendingEvents);
    },
  });
  new Gauge({
    name: 'kpi_comment_retention_days',
    help: 'COMMENT_RETENTION_DAYS: survey comments older than this are removed by the engine; 0 keeps them forever.',
    registers: [registry],
    collect() {
      this.set(retention.days ?? 0);
    },
  });
  new Gauge({
    name: 'kpi_comment_retention_checked_timestamp_seconds',
    help: 'When this process last made survey_responses enforce COMMENT_RETENTION_DAYS (at start or on taking the writer lease); 0 if it never did (INGEST=off, standby).',
    registers: [registry],
    collect() {
      this.set((retention.checkedAt?.getTime() ?? 0) / 1000);
    },
  });
  new Gauge({
    name: 'kpi_comments_past_retention',
    help: 'Survey comments still stored past COMMENT_RETENTION_DAYS: the engine removes them at the next TTL merge of their partition. Absent when comments are kept forever or the count failed.',
    registers: [registry],
    async collect() {
      this.reset();
      if (retention.days === undefined) return;
      // A failed count leaves the series out rather than failing the whole scrape.
      await commentsPastRetention(exec, retention.days).then((n) => this.set(n), () => undefined);
    },
  });
  new Gauge({
    name: 'kpi_clickhouse_partition_parts_max',
    help: 'The most active parts in one partition of each table (on a cluster, of any replica). Inserts slow down and then fail with TOO_MANY_PARTS when it passes the MergeTree settings parts_to_delay_insert / parts_to_throw_insert (1000 / 3000 by default in ClickHouse 26).',
    labelNames: ['table'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      // A failed read leaves the series out rather than failing the whole scrape.
      const parts = await activePartsByTable(exec).catch(() => new Map<string, number>());
      for (const [table, n] of parts) this.set({ table }, n);
    },
  });
  const unobserveRepairs = writer.observeRepairs((table, partitions) => repairs.inc({ table }, partitions));
  const unobserveErasures = writer.erasures.observe((erasure) => {
    erasures.inc();
    erasedEvents.inc(erasure.events);
  });
  const unobserveIngest = writer.observe((source, counts) => {
    ingested.inc({ source, outcome: 'accepted' }, counts.accepted);
    ingested.inc({ source, outcome: 'duplicate' }, counts.duplicates);
    ingested.inc({ source, outcome: 'rejected' }, counts.rejected);
  });
  const unobserve = exec.observe(({ query, durationMs, ok }) => {
    const word = /^\s*(\w+)/.exec(query)?.[1]?.toLowerCase() ?? '';
    queries.observe({ statement: STATEMENTS.has(word) ? word : 'other', result: ok ? 'ok' : 'error' }, durationMs / 1000);
  });

  const names = new Set<string>();
  const operationLabel = (name: string | null | undefined): string => {
    const label = name ?? '(anonymous)';
    if (names.has(label)) return label;
    if (names.size >= MAX_OPERATION_NAMES) return '(other)';
    names.add(label);
    return label;
  };

  const plugin: ApolloServerPlugin<Context> = {
    async requestDidStart() {
      const started = performance.now();
      return {
        async willSendResponse({ operation, operationName, errors, response }) {
          // Without a resolved operation the client's name may not even denote one.
          const labels = operation ? { operation: operationLabel(operationName), type: operation.operation } : { operation: '(invalid)', type: 'unknown' };
          const failed = (errors?.length ?? 0) > 0 || (response.body.kind === 'single' && (response.body.singleResult.errors?.length ?? 0) > 0);
          requests.inc({ ...labels, result: failed ? 'error' : 'success' });
          if (response.http.headers.get(SHARED_ANSWER_HEADER) !== undefined) sharedAnswers.inc({ operation: labels.operation });
          latency.observe(labels, (performance.now() - started) / 1000);
        },
      };
    },
  };

  const route: Route = async (req, res, meta) => {
    if (meta.url.pathname !== '/metrics') return false;
    if (req.method !== 'GET') {
      sendError(res, 405, 'METHOD_NOT_ALLOWED', 'Use GET /metrics', meta.requestId);
      return true;
    }
    if (meta.authorize('read') === false) return true;
    const text = await registry.metrics();
    res.writeHead(200, { 'content-type': registry.contentType, 'content-length': Buffer.byteLength(text) });
    res.end(text);
    return true;
  };

  return {
    registry,
    plugin,
    route,
    snapshotJob({ name, ok, durationMs }) {
      jobs.inc({ name, result: ok ? 'success' : 'error' });
      jobDuration.observe({ name }, durationMs / 1000);
    },
    stop() {
      unobserve();
      unobserveIngest();
      unobserveRepairs();
      unobserveErasures();
      registry.clear();
    },
  };
}
