import type { SqlQuery } from '../server/executor.js';
import { customerFilterSql } from './customer-filter.js';
import { cohortFragments, type CohortArgs } from './retention.sql.js';
import { Params, T } from './sql.js';

export interface ClvArgs extends CohortArgs {
  currency: string;
  margin: number;
}

/**
 * Per cohort: size, period starts of offsets 0..periods+1 (the last ends the final cell), and the revenue in `currency`
 * per offset with its running total, both summed as Decimal and sent as text so nothing
 * is rounded before the final division.
 */
export function clvCohortsSql(a: ClvArgs): SqlQuery {
  const p = new Params();
  const f = cohortFragments(a, p);
  const periods = p.add('Int32', a.periods, 'periods');
  const currency = p.add('String', a.currency, 'currency');
  return p.sql(`
    WITH members AS (${f.members}),
    revenue AS (
      SELECT m.c AS c, toInt32(${f.idx('pu.occurred_at')} - m.c) AS k, sum(pu.amount) AS revenue
      FROM ${T.purchases} AS pu INNER JOIN members AS m ON pu.customer_id = m.customer_id
      WHERE pu.occurred_at <= ${f.asOf} AND pu.currency = ${currency} AND k <= ${periods}
        AND pu.customer_id IN (SELECT customer_id FROM members)
      GROUP BY c, k
    ),
    sizes AS (SELECT c, count() AS size FROM members GROUP BY c)
    SELECT s.c AS c, s.size AS size,
      arrayMap(k -> toString(${f.startOf('toInt32(s.c + k)')}), range(0, ${periods} + 2)) AS starts,
      arrayMap(k -> arraySum(arrayMap(t -> if(t.1 = k, t.2, toDecimal128(0, 4)), r.pairs)), range(0, ${periods} + 1)) AS dense,
      arrayMap(x -> toString(x), dense) AS revenue,
      arrayMap(x -> toString(x), arrayCumSum(dense)) AS cumulative
    FROM sizes AS s
    LEFT JOIN (SELECT c, groupArray((k, toDecimal128(revenue, 4))) AS pairs FROM revenue GROUP BY c) AS r ON r.c = s.c
    ORDER BY c`);
}

/** Revenue, orders and distinct customers in `currency` in the window, and the number of grain periods starting in it. */
export function clvSummarySql(a: Omit<ClvArgs, 'periods'>): SqlQuery {
  const p = new Params();
  const f = cohortFragments({ ...a, periods: 0 }, p);
  const filter = customerFilterSql(a.filter, f.asOf, p);
  const currency = p.add('String', a.currency, 'currency');
  return p.sql(`
    SELECT toString(sum(amount)) AS revenue, count() AS orders, uniqExact(customer_id) AS customers,
           toInt64(${f.ceilIdx(f.to)}) - toInt64(${f.ceilIdx(f.from)}) AS period_count
    FROM ${T.purchases}
    WHERE occurred_at >= ${f.from} AND occurred_at < ${f.to} AND occurred_at <= ${f.asOf} AND currency = ${currency}
      ${filter ? `AND ${filter}` : ''}`);
}
