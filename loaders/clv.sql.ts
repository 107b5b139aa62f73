import type { SqlQuery } from '../server/executor.js';
import { customerStateSql, MARKER, monthOf, monthToPeriod, monthWindow } from './activity.sql.js';
import { cohortFragments, type CohortArgs } from './retention.sql.js';
import { Params, T, type Source } from './sql.js';

export interface ClvArgs extends CohortArgs {
  currency: string;
  margin: number;
}

/**
 * Per cohort: size, period starts of offsets 0..periods+1 (the last ends the final cell), and the revenue in `currency`
 * per offset with its running total, both summed as Decimal and sent as text so nothing
 * is rounded before the final division.
 */
export function clvCohortsSql(a: ClvArgs, source: Source = 'auto'): SqlQuery {
  const p = new Params(source);
  const f = cohortFragments(a, p);
  const periods = p.add('Int32', a.periods, 'periods');
  const currency = p.add('String', a.currency, 'currency');
  // Per cohort: its size and pairs (offset, revenue). The state answers both in one pass: a
  // marker entry (month LAST) per customer counts them, their sales in `currency` give the revenue.
  const LAST = MARKER;
  const cohorts = f.state
    ? `
      SELECT c, sumIf(n, k = -1) AS size, groupArrayIf((k, revenue), k >= 0) AS pairs
      FROM (
        SELECT c, if(m = ${LAST}, -1, ${monthToPeriod(a.grain, 'm')} - c) AS k, sum(amount) AS revenue, count() AS n
        FROM (
          SELECT c, arrayPushBack(sold.month, ${LAST}) AS months, arrayPushBack(sold.amount, toDecimal128(0, 4)) AS amounts
          FROM (
            SELECT ${monthToPeriod(a.grain, monthOf('first_at'))} AS c, arrayFilter(s -> s.currency = ${currency}, x) AS sold
            FROM (${customerStateSql('sales', f.asOf, f.filter)}) WHERE ${f.inCohorts('c')}
          )
        )
        ARRAY JOIN months AS m, amounts AS amount
        WHERE m = ${LAST} OR ${monthToPeriod(a.grain, 'm')} - c <= ${periods}
        GROUP BY c, k
      )
      GROUP BY c`
    : `
      WITH members AS (${f.members}),
      revenue AS (
        SELECT m.c AS c, toInt32(${f.idx('pu.occurred_at')} - m.c) AS k, sum(pu.amount) AS revenue
        FROM ${T.purchases} AS pu INNER JOIN members AS m ON pu.customer_id = m.customer_id
        WHERE pu.occurred_at <= ${f.asOf} AND pu.currency = ${currency} AND k <= ${periods}
          AND pu.customer_id IN (SELECT customer_id FROM members)
        GROUP BY c, k
      ),
      sizes AS (SELECT c, count() AS size FROM members GROUP BY c)
      SELECT s.c AS c, s.size AS size, r.pairs AS pairs
      FROM sizes AS s
      LEFT JOIN (SELECT c, groupArray((k, toDecimal128(revenue, 4))) AS pairs FROM revenue GROUP BY c) AS r ON r.c = s.c`;
  return p.sql(`
    SELECT c, size,
      arrayMap(k -> toString(${f.startOf('toInt32(c + k)')}), range(0, ${periods} + 2)) AS starts,
      arrayMap(k -> arraySum(arrayMap(t -> if(t.1 = k, t.2, toDecimal128(0, 4)), pairs)), range(0, ${periods} + 1)) AS dense,
      arrayMap(x -> toString(x), dense) AS revenue,
      arrayMap(x -> toString(x), arrayCumSum(dense)) AS cumulative
    FROM (${cohorts})
    ORDER BY c`);
}

/** Revenue, orders and distinct customers in `currency` in the window, and the number of grain periods starting in it. */
export function clvSummarySql(a: Omit<ClvArgs, 'periods'>, source: Source = 'auto'): SqlQuery {
  const p = new Params(source);
  const f = cohortFragments({ ...a, periods: 0 }, p);
  const currency = p.add('String', a.currency, 'currency');
  const periodCount = `toInt64(${f.ceilIdx(f.to)}) - toInt64(${f.ceilIdx(f.from)}) AS period_count`;
  if (source === 'auto' && monthWindow(a.from, a.to)) {
    return p.sql(`
      SELECT toString(sum(r)) AS revenue, sum(o) AS orders, countIf(o > 0) AS customers, ${periodCount}
      FROM (
        SELECT arrayFilter(s -> s.currency = ${currency} AND s.month >= ${monthOf(f.from)} AND s.month < ${monthOf(f.to)}, x) AS w,
          arraySum(s -> s.amount, w) AS r, arraySum(s -> s.orders, w) AS o
        FROM (${customerStateSql('sales', f.asOf, f.filter)})
      )`);
  }
  return p.sql(`
    SELECT toString(sum(amount)) AS revenue, count() AS orders, uniqExact(customer_id) AS customers, ${periodCount}
    FROM ${T.purchases}
    WHERE occurred_at >= ${f.from} AND occurred_at < ${f.to} AND occurred_at <= ${f.asOf} AND currency = ${currency}
      ${f.filter ? `AND ${f.filter}` : ''}`);
}
