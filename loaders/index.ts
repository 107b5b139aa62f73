import type { Executor, QueryContext } from '../server/executor.js';
import { repeatPurchaseLoaders } from './repeat-purchase.loader.js';
import { retentionLoaders } from './retention.loader.js';

export interface LoaderDeps extends QueryContext {
  exec: Executor;
}

/** Request-scoped loaders, one family per KPI module. */
export function createLoaders(deps: LoaderDeps) {
  const { exec } = deps;
  return {
    ...retentionLoaders(exec, deps),
    ...repeatPurchaseLoaders(exec, deps),
  };
}

export type Loaders = ReturnType<typeof createLoaders>;
