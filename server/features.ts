import type { ApolloServerPlugin } from '@apollo/server';
import type { Logger } from 'pino';
import { startAlertScheduler } from './alerts/scheduler.js';
import type { Route } from './app.js';
import { backupRoute } from './backup-route.js';
import type { Config } from './config.js';
import type { Context } from '../schema/context.js';
import type { Executor } from './storage/executor.js';
import { erasureRoute } from './erasure-route.js';
import { ideRoute } from './ide.js';
import { ingestRoute } from './ingest-route.js';
import type { EventWriter } from './ingest/writer.js';
import { createMetrics, type CommentRetentionStatus } from './metrics.js';
import { silentNotifier, type Notifier } from './notifications/events.js';
import { snapshotRoutes } from './snapshot-routes.js';
import { verifyStateRoute } from './state-route.js';
import { startSnapshotScheduler, systemClock, type Clock } from './snapshots/scheduler.js';

export interface FeatureDeps {
  config: Config;
  exec: Executor;
  writer: EventWriter;
  log: Logger;
  /** The snapshot and alert schedulers' time; tests pass a fake clock. */
  clock?: Clock;
  /** Where alert transitions are published (the webhook outbox); default: nowhere. */
  notifier?: Notifier;
  /** The configured comment retention and when this process last made the table enforce it (metrics). */
  retention?: CommentRetentionStatus;
}

export interface Features {
  routes: Route[];
  plugins: ApolloServerPlugin<Context>[];
  stop(): Promise<void>;
}

/** Routes and plugins beyond GraphQL itself (ingestion, metrics, IDE, snapshots), in one list. */
export async function features(deps: FeatureDeps): Promise<Features> {
  const { config, exec, writer, log } = deps;
  const metrics = createMetrics(exec, writer, deps.retention);
  const clock = deps.clock ?? systemClock;
  // Only the instance that stores writes runs the schedules: a standby or a read replica beside
  // it would store each snapshot and each alert transition twice.
  const mayWrite = (requestId: string) => writer.assertMayWrite(requestId);
  const scheduler = startSnapshotScheduler(config.snapshotSchedule, {
    exec,
    log,
    clock,
    reportingCurrency: config.reportingCurrency,
    grossMargin: config.grossMargin,
    mayWrite,
    onResult: metrics.snapshotJob,
  });
  const alerts = startAlertScheduler({
    exec,
    log,
    clock,
    notifier: deps.notifier ?? silentNotifier,
    reportingCurrency: config.reportingCurrency,
    grossMargin: config.grossMargin,
    mayWrite,
  });
  return {
    routes: [ingestRoute(config, writer), snapshotRoutes(exec), metrics.route, verifyStateRoute(writer), backupRoute(exec, writer), erasureRoute(writer), ideRoute(config.apiKeys.length > 0)],
    plugins: [metrics.plugin],
    async stop() {
      await Promise.all([scheduler.stop(), alerts.stop()]);
      metrics.stop();
    },
  };
}
