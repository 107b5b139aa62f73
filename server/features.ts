import type { ApolloServerPlugin } from '@apollo/server';
import type { Logger } from 'pino';
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

export interface FeatureDeps {
  config: Config;
  exec: Executor;
  writer: EventWriter;
  log: Logger;
  /** The snapshot scheduler's time; tests pass a fake clock. */
  clock?: Clock;
  /** Evaluation time of exports that leave `asOf` out, as of GraphQL queries (createApp's `now`). */
  now?: () => Date;
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
  const scheduler = startSnapshotScheduler(config.snapshotSchedule, {
    exec,
    log,
    clock: deps.clock ?? systemClock,
    reportingCurrency: config.reportingCurrency,
    grossMargin: config.grossMargin,
    // Only the instance that stores writes takes scheduled snapshots: a standby or a read
    // replica beside it would store each one twice.
    mayWrite: (requestId) => writer.assertMayWrite(requestId),
    onResult: metrics.snapshotJob,
  });
  return {
    routes: [ingestRoute(config, writer), snapshotRoutes(exec), exportRoutes({ config, exec, writer, log, now: deps.now }), metrics.route, verifyStateRoute(writer), backupRoute(exec, writer), erasureRoute(writer), ideRoute(config.apiKeys.length > 0)],
    plugins: [metrics.plugin],
    async stop() {
      await scheduler.stop();
      metrics.stop();
    },
  };
}
