import type { ApolloServerPlugin } from '@apollo/server';
import type { Logger } from 'pino';
import type { Route } from './app.js';
import type { Config } from './config.js';
import type { Context } from './context.js';
import type { Executor } from './executor.js';
import { ideRoute } from './ide.js';
import { ingestRoute } from './ingest/endpoint.js';
import type { EventWriter } from './ingest/writer.js';

export interface FeatureDeps {
  config: Config;
  exec: Executor;
  writer: EventWriter;
  log: Logger;
}

export interface Features {
  routes: Route[];
  plugins: ApolloServerPlugin<Context>[];
  stop(): Promise<void>;
}

/** Routes and plugins beyond GraphQL itself (ingestion, metrics, IDE, snapshots), in one list. */
export async function features(deps: FeatureDeps): Promise<Features> {
  return { routes: [ingestRoute(deps.config, deps.writer), ideRoute()], plugins: [], stop: async () => undefined };
}
