import type { ApolloServerPlugin } from '@apollo/server';
import type { Logger } from 'pino';
import { startAlertScheduler } from './alerts/scheduler.js';
import type { Route } from './app.js';
import { backupRoute } from './backup-route.js';
import type { Config } from './config.js';
import type { Context } from '../schema/context.js';
import type { Executor } from './storage/executor.js';
import { erasureRoute } from './erasure-route.js';
import { exportRoutes } from './export-routes.js';
import { ideRoute } from './ide.js';
import { ingestRoute } from './ingest-route.js';
import type { EventWriter } from './ingest/writer.js';
import { createMetrics, type CommentRetentionStatus } from './metrics.js';
import { snapshotRoutes } from './snapshot-routes.js';
import { verifyStateRoute } from './state-route.js';
import { startSnapshotScheduler, systemClock, type Clock } from './snapshots/scheduler.js';
import { startAtRiskJob } from './at-risk-job.js';
import { WebhookOutbox } from './notifications/outbox.js';
import { startWebhookWorker } from './webhook-worker.js';

export interface FeatureDeps {
  config: Config;
  exec: Executor;
  writer: EventWriter;
  log: Logger;
  /** The snapshot and alert schedulers' time; tests pass a fake clock. */
  clock?: Clock;
  /** Evaluation time of exports that leave `asOf` out, as of GraphQL queries (createApp's `now`). */
  now?: () => Date;
  /** The configured comment retention and when this process last made the table enforce it (metrics). */
  retention?: CommentRetentionStatus;
  /** The webhook outbox producers publish to; one of its own when unset. */
  outbox?: WebhookOutbox;
}

export interface Features {
  routes: Route[];
  plugins: ApolloServerPlugin<Context>[];
  /** Resolves once neither the at-risk job nor the webhook worker has a run in progress (tests wait on it). */
  notificationsIdle(): Promise<void>;
  stop(): Promise<void>;
}

/** Routes, plugins and jobs beyond GraphQL itself (ingestion, metrics, IDE, snapshots, webhooks), in one list. */
export async function features(deps: FeatureDeps): Promise<Features> {
  const { config, exec, writer, log } = deps;
  const metrics = createMetrics(exec, writer, deps.retention);
  const clock = deps.clock ?? systemClock;
  const outbox = deps.outbox ?? new WebhookOutbox(exec, () => clock.now());
  // Only the instance that stores writes runs the jobs: a standby or a read replica beside it
  // would store each scheduled snapshot and alert transition, and send each delivery, twice.
  const mayWrite = (requestId: string) => writer.assertMayWrite(requestId);
  const webhooks = await startWebhookWorker({ exec, outbox, log, clock, allowed: config.webhookAllowedHosts, timeoutMs: config.webhookTimeoutMs, mayWrite });
  const atRisk = startAtRiskJob({ exec, log, clock, notifier: outbox, reportingCurrency: config.reportingCurrency, mayWrite });
  const scheduler = startSnapshotScheduler(config.snapshotSchedule, {
    exec,
    log,
    clock,
    reportingCurrency: config.reportingCurrency,
    grossMargin: config.grossMargin,
    mayWrite,
    onResult: metrics.snapshotJob,
    notifier: outbox,
  });
  const alerts = startAlertScheduler({
    exec,
    log,
    clock,
    notifier: outbox,
    reportingCurrency: config.reportingCurrency,
    grossMargin: config.grossMargin,
    mayWrite,
  });
  return {
    routes: [ingestRoute(config, writer), snapshotRoutes(exec), exportRoutes({ config, exec, writer, notifier: outbox, log, now: deps.now }), metrics.route, verifyStateRoute(writer), backupRoute(exec, writer), erasureRoute(writer), ideRoute(config.apiKeys.length > 0)],
    plugins: [metrics.plugin],
    async notificationsIdle() {
      await atRisk.idle();
      await webhooks.idle();
    },
    async stop() {
      await Promise.all([scheduler.stop(), alerts.stop(), atRisk.stop()]);
      await webhooks.stop();
      metrics.stop();
    },
  };
}
