// Breakdowns (spec section 13): each customer's group key as of asOf, from a closed map. A KPI
// builder puts the key next to its per-customer rows with withGroupKey() and groups by it, so
// a breakdown is one pass over the KPI's data, whatever the number of groups; without a
// breakdown every row gets the key NULL and the KPI is the one group.
import { ATTRIBUTES, latestProfilesSql, type Attribute } from './customer-filter.js';
import { loyaltyTiersSql } from './loyalty.sql.js';
import { referredCustomersSql } from './referral.sql.js';
import type { Params } from './sql.js';
import { npsGroupsSql } from './survey-bands.sql.js';

export enum Breakdown {
  COUNTRY = 'COUNTRY',
  CHANNEL = 'CHANNEL',
  SEGMENT = 'SEGMENT',
  REFERRED = 'REFERRED',
  NPS_GROUP = 'NPS_GROUP',
  LOYALTY_TIER = 'LOYALTY_TIER',
}

/** More groups than this is refused: such a breakdown is a list of customers, not a KPI. */
export const MAX_GROUPS = 300;

/**
 * `rows`: `customer_id` and `key` for the customers that have a key; `otherwise`: the key of
 * every other customer (SQL, NULL when they have none).
 */
interface GroupKeys {
  rows: string;
  otherwise: string;
}

/** A profile attribute of the latest profile version as of asOf, as the filters read it. */
function attributeKeys(attribute: Attribute, asOf: string): GroupKeys {
  return { rows: `SELECT customer_id, latest.${ATTRIBUTES[attribute]} AS key FROM (${latestProfilesSql(asOf)})`, otherwise: 'NULL' };
}

/** Each breakdown's keys as of `asOf` (a placeholder). */
const GROUP_KEYS: Record<Breakdown, (asOf: string, p: Params) => GroupKeys> = {
  [Breakdown.COUNTRY]: (asOf) => attributeKeys('country', asOf),
  [Breakdown.CHANNEL]: (asOf) => attributeKeys('channel', asOf),
  [Breakdown.SEGMENT]: (asOf) => attributeKeys('segment', asOf),
  // The `referred` filter's customers (section 8); everyone else is organic, so no key is NULL.
  [Breakdown.REFERRED]: (asOf, p) => ({ rows: `SELECT referred AS customer_id, 'referred' AS key FROM (${referredCustomersSql(asOf, p)})`, otherwise: "'organic'" }),
  [Breakdown.NPS_GROUP]: (asOf) => ({ rows: `SELECT customer_id, nps_group AS key FROM (${npsGroupsSql(asOf)})`, otherwise: 'NULL' }),
  // The `loyaltyTier` filter's tiers (section 14); non-members and members without a tier have none.
  [Breakdown.LOYALTY_TIER]: (asOf) => ({ rows: `SELECT customer_id, tier AS key FROM (${loyaltyTiersSql(asOf)})`, otherwise: 'NULL' }),
};

/**
 * `rows` (a subquery with a `customer_id` column) with one more column, `key` (Nullable(String)):
 * the customer's group under `by` as of `asOf`, or NULL for every row without a breakdown.
 * One LEFT JOIN against a hash table of the customers that have a key. Nullable even where every
 * customer has a key (REFERRED): a FULL JOIN of two keyed parts (clv.sql.ts) gives the missing
 * side's key its type's default, which must be NULL, never the empty string.
 */
export function withGroupKey(rows: string, by: Breakdown | null | undefined, asOf: string, p: Params): string {
  if (!by) return `SELECT *, CAST(NULL, 'Nullable(String)') AS key FROM (${rows})`;
  const keys = GROUP_KEYS[by](asOf, p);
  return `
    SELECT r.*, CAST(ifNull(k.key, ${keys.otherwise}), 'Nullable(String)') AS key
    FROM (${rows}) AS r
    LEFT JOIN (SELECT customer_id, CAST(key, 'Nullable(String)') AS key FROM (${keys.rows})) AS k ON k.customer_id = r.customer_id`;
}

/**
 * The key column and GROUP BY of a builder's final aggregate. Without a breakdown there is no
 * GROUP BY: the KPI answers its one row even when no row is aggregated, whichever path (state
 * or raw) it reads, as it did before breakdowns existed.
 */
export function keyAggregate(by: Breakdown | null | undefined): { key: string; groupBy: string } {
  return by ? { key: 'key', groupBy: 'GROUP BY key' } : { key: "CAST(NULL, 'Nullable(String)') AS key", groupBy: '' };
}
