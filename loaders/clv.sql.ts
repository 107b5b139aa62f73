import type { SqlQuery } from '../server/storage/executor.js';
import { customerStateSql, monthOf, monthWindow, statePeriods } from './activity.sql.js';
import { keyAggregate } from './breakdown.sql.js';
import { cohortFragments, type CohortArgs } from './cohort.sql.js';
import { ledgerSql, within } from './refunds.sql.js';
import type { Window } from './args.js';
import { Params, windowList, type Source } from './sql.js';

export interface ClvArgs extends CohortArgs {
  currency: string;
  margin: number;
}

/** The window summary's arguments: no cohort curves, so no periods. */
export type ClvSummaryArgs = Omit<ClvArgs, 'periods'>;

/**
 * Windows of up to this many months get the CLV summary from their raw purchases rather than
 * from every customer's state: at 10M purchases over three years, 580 ms against 860 ms for
 * twelve months, 860 against 1 020 for 24 (docs/performance.md, "Set look-ups by hash").
 */
const SUMMARY_RAW_MONTHS = 24;

/** Whole UTC months from `from` to `to`, both month starts. */
function monthsBetween(from: Date, to: Date): number {
  return to.getUTCFullYear() * 12 + to.getUTCMonth() - (from.getUTCFullYear() * 12 + from.getUTCMonth());
}

/** One cohort's curve as sent: exact Decimal sums as text, so nothing is rounded before the final division. */
const COHORT = 'Tuple(c Int32, size UInt64, starts Array(String), revenue Array(String), cumulative Array(String))';

/**
 * A summary row of a window and group counts only with an order or a refund in it: the state
 * keeps the entry of a cancelled order (0 orders, net 0), which the raw ledger does not have,
 * and refunds alone always sum to less than 0. Both paths then answer the same rows.
 */
const SOMETHING = 'sum(o) > 0 OR sum(r) != 0';

/**
 * customerLifetimeValue's figures in one query and one row: the window summary in `currency`
 * (clvSummarySql's columns) and `cohorts`: per cohort its size, the period starts of offsets
 * 0..periods+1 (the last ends the final cell) and its revenue per offset with the running total.
 *
 * From the state (month-aligned grain and window) both come out of one pass over every
 * customer's per-month sums: a cohort cell and the window totals are sums of the same
 * (first month, month, currency) cells, and a customer's active periods are the distinct
 * periods of their wanted entries (a month-aligned period is a union of whole UTC months).
 * That pass is faster than reading the state once per part. Otherwise the raw purchases answer
 * each part.
 *
 * One row, or one per group key with a breakdown (breakdown.sql.ts).
 */
export function clvSql(a: ClvSummaryArgs, periods: number, source: Source = 'auto'): SqlQuery {
  const p = new Params(source);
  const f = cohortFragments({ ...a, periods }, p);
  const currency = p.add('String', a.currency, 'currency');
  const maxOffset = p.add('Int32', periods, 'periods');
  const g = keyAggregate(a.by);
  // Per cohort row (c, size, pairs (offset, revenue)): its curve, as one named tuple, sorted by cohort.
  const curves = (where: string) => `arraySort(x -> x.c, groupArrayIf(CAST((c, size,
      arrayMap(k -> toString(${f.startOf('toInt32(c + k)')}), range(0, ${maxOffset} + 2)),
      arrayMap(x -> toString(x), arrayMap(k -> arraySum(arrayMap(t -> if(t.1 = k, t.2, toDecimal128(0, 4)), pairs)), range(0, ${maxOffset} + 1)) AS dense),
      arrayMap(x -> toString(x), arrayCumSum(dense))), '${COHORT}'), ${where}))`;

  if (f.unit === 'month' && monthWindow(a.from, a.to)) {
    const { state, period, wanted, active } = stateSales(a, f, currency);
    // Cells per (month of first purchase, month, currency), grouped on the UInt16 month numbers
    // (a 7-byte key; periods come after). Each customer is counted once, at their first entry in
    // any currency: cohort sizes, window customers and active periods need no extra entry per customer.
    return p.sql(`
      WITH cells AS (
        SELECT key, first_month, m, cur, sum(amount) AS revenue, sum(n) AS orders, countIf(i = 1) AS customers, countIf(i = 1 AND bought) AS buyers,
          sumIf(ap, i = 1) AS active
        FROM (${f.keyed(`
          SELECT customer_id, first_month, sale_month, sale_currency, sale_amount, sale_orders,
            arrayMap((mo, cur) -> ${wanted('mo')}, sale_month, sale_currency) AS w, arrayExists((yes, n) -> yes AND n > 0, w, sale_orders) AS bought, ${active('w')} AS ap
          FROM (${state})`)})
        ARRAY JOIN sale_month AS m, sale_currency AS cur, sale_amount AS amount, sale_orders AS n, arrayEnumerate(sale_month) AS i
        GROUP BY key, first_month, m, cur
      )
      SELECT ${g.key}, toString(sum(w_revenue)) AS revenue, sum(w_orders) AS orders, sum(w_customers) AS customers,
        sum(w_active) AS active_customer_periods, ${curves(f.inCohorts('c'))} AS cohorts
      FROM (
        SELECT key, ${period('first_month')} AS c, sum(customers) AS size, sum(buyers) AS w_customers, sum(active) AS w_active,
          sumIf(revenue, ${wanted('m')}) AS w_revenue, sumIf(orders, ${wanted('m')}) AS w_orders,
          groupArrayIf((${period('m')} - c, revenue), cur = ${currency} AND ${period('m')} - c <= ${maxOffset}) AS pairs
        FROM cells GROUP BY key, c
      )
      ${g.groupBy}`);
  }

  const summary = rawSummarySql(f, p, currency, [a]);
  // With a breakdown, keys on one side only: the other side's columns are their defaults (0, an
  // empty list), and the summary's key is NULL exactly when it is missing or the NULL group
  // (isNotDistinctFrom matches NULL keys). Without one, both sides are one row with key NULL.
  return p.sql(`
    WITH members AS (${f.keyed(f.members)}),
    revenue AS (
      SELECT m.key AS key, m.c AS c, toInt32(${f.idx('pu.occurred_at')} - m.c) AS k, sum(pu.amount) AS revenue
      FROM (${ledgerSql(f.asOf, p.source, 'customer_id IN (SELECT customer_id FROM members)')}) AS pu INNER JOIN members AS m ON pu.customer_id = m.customer_id
      WHERE pu.currency = ${currency} AND k <= ${maxOffset}
      GROUP BY key, c, k
    ),
    curves_by_key AS (
      SELECT ${g.key}, ${curves('true')} AS cohorts
      FROM (
        SELECT s.key AS key, s.c AS c, s.size AS size, r.pairs AS pairs
        FROM (SELECT key, c, count() AS size FROM members GROUP BY key, c) AS s
        LEFT JOIN (SELECT key, c, groupArray((k, toDecimal128(revenue, 4))) AS pairs FROM revenue GROUP BY key, c) AS r
          ON r.c = s.c AND isNotDistinctFrom(r.key, s.key)
      )
      ${g.groupBy}
    )
    SELECT ifNull(w.key, k.key) AS key, toString(w.revenue) AS revenue, w.orders AS orders, w.customers AS customers,
      w.active_customer_periods AS active_customer_periods, k.cohorts AS cohorts
    FROM (${summary}) AS w FULL JOIN curves_by_key AS k ON isNotDistinctFrom(w.key, k.key)`);
}

type Fragments = ReturnType<typeof cohortFragments>;

/**
 * The state's sales of each customer (customerStateSql) and what a month-aligned window reads of
 * them: `period(m)`, the grain's period of a month number, `wanted(m)`, whether an entry of
 * month m (and `cur`) is one of the window's in `currency`, and `active(w)`, the distinct
 * periods of a customer's wanted entries with orders (an entry of refunds alone has 0 orders:
 * activity.sql.ts).
 */
function stateSales(a: ClvSummaryArgs, f: Fragments, currency: string) {
  const months = statePeriods(a.grain, 'month', f.zone);
  return {
    state: customerStateSql('sales', f.asOf, f.filter),
    period: (m: string) => `toInt32(${months.of(m)})`,
    wanted: (m: string) => `cur = ${currency} AND ${m} >= ${monthOf(f.from)} AND ${m} < ${monthOf(f.to)}`,
    active: (w: string) => `arrayUniq(arrayFilter((i, yes, n) -> yes AND n > 0, ${months.all('sale_month')}, ${w}, sale_orders))`,
  };
}

/**
 * The window summary of customerLifetimeValue for each window of `windows` in `currency`: a row
 * per group key (NULL without a breakdown) and window `w` (its 1-based position) with an order
 * or a refund in it, in that order:
 * `revenue` as Decimal text, `orders`, distinct `customers`, and `active_customer_periods`, the
 * distinct (customer, `grain` period in `timezone`) pairs of their orders.
 *
 * One long month-aligned window (more than SUMMARY_RAW_MONTHS) takes per-customer sums over the
 * state's wanted entries. Shorter ones read their raw ledger, and several windows (an alert
 * run's) one ledger of their span, each entry counted in every window that holds it: the filter's
 * sets and the cancelled orders' look-up are built once for all of them.
 */
export function clvSummarySql(a: Omit<ClvSummaryArgs, 'from' | 'to'>, windows: readonly Window[], source: Source = 'auto'): SqlQuery {
  const only = windows.length === 1 ? windows[0]! : null;
  const p = new Params(source);
  // The fragments' own window is the first one: the state path reads it, the raw path the list.
  const f = cohortFragments({ ...a, ...(only ?? windows[0] ?? { from: new Date(0), to: new Date(0) }), periods: 0 }, p);
  const currency = p.add('String', a.currency, 'currency');
  if (only && f.unit === 'month' && monthWindow(only.from, only.to) && monthsBetween(only.from, only.to) > SUMMARY_RAW_MONTHS) {
    const { state, wanted, active } = stateSales({ ...a, ...only }, f, currency);
    return p.sql(`
      SELECT key, 1 AS w, toString(sum(r)) AS revenue, sum(o) AS orders, countIf(o > 0) AS customers, sum(ap) AS active_customer_periods
      FROM (${f.keyed(`
        SELECT customer_id, arrayMap((m, cur) -> ${wanted('m')}, sale_month, sale_currency) AS w,
          arraySum(arrayFilter((amount, yes) -> yes, sale_amount, w)) AS r, arraySum(arrayFilter((n, yes) -> yes, sale_orders, w)) AS o,
          ${active('w')} AS ap
        FROM (${state})`)})
      GROUP BY key
      HAVING ${SOMETHING}
      ORDER BY key`);
  }
  return p.sql(`SELECT key, w, toString(revenue) AS revenue, orders, customers, active_customer_periods FROM (${rawSummarySql(f, p, currency, windows)}) ORDER BY key, w`);
}

/**
 * clvSummarySql's rows from the raw ledger. Per customer first (the table is ordered by
 * customer), each customer's distinct period indexes: uniqExact over the window's (customer,
 * period) pairs was several times slower (docs/performance.md, "CLV definitions version 2").
 * Net revenue: orders and the refunds of orders not cancelled (refunds.sql.ts); a customer with
 * refunds alone in a window is not one of its customers.
 */
function rawSummarySql(f: Fragments, p: Params, currency: string, windows: readonly Window[]): string {
  const w = windowList(windows, p);
  return `
    SELECT key, w, sum(r) AS revenue, sum(o) AS orders, countIf(o > 0) AS customers, sum(length(ps)) AS active_customer_periods
    FROM (${f.keyed(`
      SELECT customer_id, ${w.position('w')}, sum(amount) AS r, countIf(is_order = 1) AS o, groupUniqArrayIf(${f.idx('occurred_at')}, is_order = 1) AS ps
      FROM (${ledgerSql(f.asOf, p.source, undefined, within(w.from, w.to))})
      ${w.join('occurred_at', 'w')}
      WHERE currency = ${currency}
        ${f.filter ? `AND ${f.filter}` : ''}
      GROUP BY customer_id, w`)})
    GROUP BY key, w
    HAVING ${SOMETHING}`;
}
