import type { SqlQuery } from '../server/storage/executor.js';
import { UnreachableCaseError } from './errors.js';
import { ATTRIBUTES, latestProfilesSql } from './customer-filter.js';
import { Params, T } from './sql.js';

/** The store's values one can filter or break down by: a closed list. */
export type Dimension = 'currency' | 'country' | 'channel' | 'segment' | 'surveyId';

/** Values listed per dimension; past it a list is no longer a variable one picks from. */
export const DIMENSION_LIMIT = 100;

export interface DimensionKey {
  dimension: Dimension;
  asOf: Date;
  /** Values to report whether or not they are among the most common (filter values to check). */
  probe: string[];
}

/**
 * `value` and its weight `n` for one dimension, as of `asOf`. Currencies weigh by purchases
 * (the warning about a currency without purchases lists them), survey ids by the customers who
 * answered them, profile attributes by the customers whose latest profile holds them.
 */
function weighted(d: Dimension, asOf: string): string {
  switch (d) {
    case 'currency':
      return `SELECT toString(currency) AS value, count() AS n FROM ${T.purchases} WHERE occurred_at <= ${asOf} GROUP BY value`;
    case 'surveyId':
      return `SELECT survey_id AS value, uniqExact(customer_id) AS n FROM ${T.surveys} WHERE occurred_at <= ${asOf} GROUP BY value`;
    case 'country':
    case 'channel':
    case 'segment': {
      const attribute = `latest.${ATTRIBUTES[d]}`;
      return `SELECT toString(assumeNotNull(${attribute})) AS value, count() AS n FROM (${latestProfilesSql(asOf)}) WHERE ${attribute} IS NOT NULL GROUP BY value`;
    }
    default:
      throw new UnreachableCaseError(d);
  }
}

/**
 * One statement for several dimension lists (one UNION ALL branch per key, `branch` its index).
 * Each branch holds the probed values that exist, then the most common others, `limit` in
 * all besides the probes: so the `limit` most common values overall are always among its rows,
 * and a probed value is missing from them exactly when the store has no such value.
 */
export function storeDimensionsSql(keys: DimensionKey[], limit = DIMENSION_LIMIT): SqlQuery {
  const p = new Params();
  const branches = keys.map((k, i) => {
    const probe = p.add('Array(String)', k.probe);
    return (
      `(SELECT ${p.add('UInt16', i)} AS branch, value, n FROM (${weighted(k.dimension, p.time(k.asOf))}) ` +
      `ORDER BY has(${probe}, value) DESC, n DESC, value LIMIT ${p.add('UInt32', limit + k.probe.length)})`
    );
  });
  return p.sql(branches.join(' UNION ALL '));
}
