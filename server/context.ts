import type { Logger } from 'pino';
import type { ApiKey } from './auth.js';
import type { Config } from './config.js';
import type { Executor, QueryContext } from './executor.js';
import type { EventWriter } from './ingest/writer.js';
import { createLoaders, type Loaders } from '../loaders/index.js';
import { Warnings } from '../loaders/warnings.js';

/** Everything a resolver may touch, built fresh for each request (DataLoaders included). */
export interface Context extends QueryContext {
  exec: Executor;
  writer: EventWriter;
  config: Config;
  key: ApiKey | undefined;
  log: Logger;
  loaders: Loaders;
  /** Added by loaders and resolvers; the GraphQL edge sends them as `extensions.warnings`. */
  warnings: Warnings;
  /** Evaluation time when a query leaves `asOf` out; injectable for tests. */
  now: () => Date;
}

export function createContext(base: Omit<Context, 'loaders' | 'warnings'>): Context {
  const ctx = base as Context;
  ctx.warnings = new Warnings();
  ctx.loaders = createLoaders(ctx);
  return ctx;
}
