import type { Logger } from 'pino';
import type { Executor, QueryContext } from '../server/storage/executor.js';
import type { EventWriter } from '../server/ingest/writer.js';
import type { AllowedHosts } from '../server/notifications/allowed-hosts.js';
import type { Notifier } from '../server/notifications/events.js';
import { createLoaders, type Loaders } from '../loaders/index.js';
import { Warnings } from '../loaders/warnings.js';

/**
 * The settings resolvers read; the service passes its whole configuration (server/config.ts),
 * declared here so that the schema layer imports nothing from the HTTP layer above it.
 */
export interface ContextConfig {
  reportingCurrency: string | undefined;
  grossMargin: number;
  ingestBatchLimit: number;
  webhookAllowedHosts: AllowedHosts;
}

/** The API key of the request, as the HTTP edge identified it (server/auth.ts). */
export interface RequestKey {
  name: string;
  scopes: ReadonlySet<string>;
}

/** Everything a resolver may touch, built fresh for each request (DataLoaders included). */
export interface Context extends QueryContext {
  exec: Executor;
  writer: EventWriter;
  /** Where resolvers publish events (takeSnapshot: snapshot.taken). */
  notifier: Notifier;
  config: ContextConfig;
  key: RequestKey | undefined;
  log: Logger;
  loaders: Loaders;
  /** Added by loaders and resolvers; the GraphQL edge sends them as `extensions.warnings`. */
  warnings: Warnings;
  /** Evaluation time when a query leaves `asOf` out; injectable for tests. */
  now: () => Date;
}

export function createContext(base: Omit<Context, 'loaders' | 'warnings'>): Context {
  const ctx = base as Context;
  // The request's reads see every event acknowledged before it began, and wait for no later one.
  ctx.since ??= base.writer.acknowledged;
  ctx.warnings = new Warnings();
  ctx.loaders = createLoaders(ctx);
  return ctx;
}
