import type { ApolloServerPlugin } from '@apollo/server';
import type { Logger } from 'pino';
import type { Route } from './app.js';
import type { Config } from './config.js';
import type { Context } from './context.js';
import type { Executor } from './executor.js';

export interface FeatureDeps {
  config: Config;
  exec: Executor;
  log: Logger;
}

export interface Features {
  routes: Route[];
  plugins: ApolloServerPlugin<Context>[];
  stop(): Promise<void>;
}

/** Routes and plugins beyond GraphQL itself (ingestion, metrics, IDE, snapshots), in one list. */
export async function features(_deps: FeatureDeps): Promise<Features> {
  return { routes: [], plugins: [], stop: async () => undefined };
}
