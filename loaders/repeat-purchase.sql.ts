import type { SqlQuery } from '../server/storage/executor.js';
import { monthOf, monthWindow, orderCountsSql } from './activity.sql.js';
import type { FilteredWindow, Window } from './args.js';
import { keyAggregate, withGroupKey } from './breakdown.sql.js';
import { customerFilterSql } from './customer-filter.js';
import { ordersSql, within } from './refunds.sql.js';
import { Params, windowList, type Source } from './sql.js';

/**
 * Customers, repeat customers and orders in each window [from, to) of `windows`, nothing after
 * asOf: a row per group key (NULL without a breakdown: breakdown.sql.ts) and window `w` (its
 * 1-based position) with any customer (the state also holds customers without an order in the
 * window, which the raw orders do not), in that order. One window on UTC month starts counts each customer's
 * orders from the state, which is faster than grouping the window's raw purchases by customer
 * (docs/performance.md). Several windows (an alert run's, whose current and previous windows
 * lie close together) are answered from one read of the raw orders of their span, each order
 * counted in every window that holds it: the filter's sets and the cancelled orders' look-up are
 * then built once for all of them.
 */
export function repeatPurchaseSql(a: Omit<FilteredWindow, 'from' | 'to'>, windows: readonly Window[], source: Source = 'auto'): SqlQuery {
  const p = new Params(source);
  const asOf = p.time(a.asOf, 'asOf');
  const filter = customerFilterSql(a.filter, asOf, p);
  const only = windows.length === 1 ? windows[0]! : null;
  let perCustomer: string;
  if (source === 'auto' && only && monthWindow(only.from, only.to)) {
    const from = p.time(only.from, 'from');
    const to = p.time(only.to, 'to');
    perCustomer = `SELECT *, 1 AS w FROM (${orderCountsSql(asOf, filter, (m) => `${m} >= ${monthOf(from)} AND ${m} < ${monthOf(to)}`)})`;
  } else {
    const w = windowList(windows, p);
    perCustomer = `
      SELECT customer_id, ${w.position('w')}, count() AS n
      FROM (${ordersSql(asOf, source, undefined, within(w.from, w.to))})
      ${w.join('occurred_at', 'w')}
      ${filter ? `WHERE ${filter}` : ''}
      GROUP BY customer_id, w`;
  }
  const g = keyAggregate(a.by);
  return p.sql(`
    SELECT ${g.key}, w, countIf(n > 0) AS customers, countIf(n >= 2) AS repeat_customers, sum(n) AS orders
    FROM (${withGroupKey(perCustomer, a.by, asOf, p)})
    GROUP BY ${a.by ? 'key, ' : ''}w
    HAVING customers > 0
    ORDER BY ${a.by ? 'key, ' : ''}w`);
}
