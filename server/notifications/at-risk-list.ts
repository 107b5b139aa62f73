import type { IdSet } from '../storage/erase.js';

/**
 * The daily customer.at_risk job's last list (migration 0021): the ids it found at risk, so the
 * next run publishes only the customers who entered the list since (server/at-risk-job.ts).
 */
export const AT_RISK_RUNS = 'at_risk_runs';

/**
 * What an erasure changes in it (server/ingest/erasures.ts): the erased customers leave the list,
 * the others stay, so the next run still publishes only newcomers.
 */
export const AT_RISK_OF_CUSTOMERS = {
  table: AT_RISK_RUNS,
  assignments: (set: IdSet) => `customer_ids = arrayFilter(c -> NOT has(${set.array}, c), customer_ids)`,
  where: (set: IdSet) => `hasAny(customer_ids, ${set.array})`,
};
