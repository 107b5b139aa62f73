import type { Executor, QueryContext } from '../server/storage/executor.js';
import { clvLoaders } from './clv.loader.js';
import { clvModelLoaders } from './clv-model.loader.js';
import { customerLoaders } from './customers.loader.js';
import { loyaltyLoaders } from './loyalty.loader.js';
import { followUpLoaders } from './follow-up.loader.js';
import { referralLoaders } from './referral.loader.js';
import { refundLoaders } from './refunds.loader.js';
import { repeatPurchaseLoaders } from './repeat-purchase.loader.js';
import { retentionLoaders } from './retention.loader.js';
import { storeDimensionsLoaders } from './store-dimensions.loader.js';
import { voiceLoaders } from './voice.loader.js';

export interface LoaderDeps extends QueryContext {
  exec: Executor;
}

/** Request-scoped loaders, one family per KPI module. */
export function createLoaders(deps: LoaderDeps) {
  const { exec } = deps;
  const retention = retentionLoaders(exec, deps);
  return {
    ...retention,
    ...repeatPurchaseLoaders(exec, deps),
    ...refundLoaders(exec, deps),
    ...referralLoaders(exec, deps),
    ...voiceLoaders(exec, deps),
    ...clvLoaders(exec, deps, retention.pooledRetentionGroups),
    ...customerLoaders(exec, deps),
    ...clvModelLoaders(exec, deps),
    ...storeDimensionsLoaders(exec, deps),
    ...loyaltyLoaders(exec, deps),
    ...followUpLoaders(exec, deps),
  };
}

export type Loaders = ReturnType<typeof createLoaders>;
