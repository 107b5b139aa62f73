import type { SqlQuery } from '../server/storage/executor.js';
import { monthOf, monthWindow, orderCountsSql } from './activity.sql.js';
import type { FilteredWindow } from './args.js';
import { keyAggregate, withGroupKey } from './breakdown.sql.js';
import { customerFilterSql } from './customer-filter.js';
import { ordersSql, within } from './refunds.sql.js';
import { Params, type Source } from './sql.js';

/**
 * Customers, repeat customers and orders in [from, to), nothing after asOf. A window on UTC
 * month starts counts each customer's orders from the state, which is faster than grouping
 * the window's raw purchases by customer (docs/performance.md). One row, or one per group key
 * with a breakdown (breakdown.sql.ts).
 */
export function repeatPurchaseSql(a: FilteredWindow, source: Source = 'auto'): SqlQuery {
  const p = new Params(source);
  const asOf = p.time(a.asOf, 'asOf');
  const from = p.time(a.from, 'from');
  const to = p.time(a.to, 'to');
  const filter = customerFilterSql(a.filter, asOf, p);
  const perCustomer =
    source === 'auto' && monthWindow(a.from, a.to)
      ? orderCountsSql(asOf, filter, (m) => `${m} >= ${monthOf(from)} AND ${m} < ${monthOf(to)}`)
      : `SELECT customer_id, count() AS n FROM (${ordersSql(asOf, source, undefined, within(from, to))})
         ${filter ? `WHERE ${filter}` : ''}
         GROUP BY customer_id`;
  const g = keyAggregate(a.by);
  return p.sql(`
    SELECT ${g.key}, countIf(n > 0) AS customers, countIf(n >= 2) AS repeat_customers, sum(n) AS orders
    FROM (${withGroupKey(perCustomer, a.by, asOf, p)})
    ${g.groupBy}`);
}
