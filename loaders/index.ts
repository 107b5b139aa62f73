import type { Executor, QueryContext } from '../server/executor.js';

/** Request-scoped loaders: each KPI family adds its own here. */
export interface Loaders {}

export interface LoaderDeps extends QueryContext {
  exec: Executor;
}

export function createLoaders(_deps: LoaderDeps): Loaders {
  return {};
}
