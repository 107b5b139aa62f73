import type { SqlQuery } from '../server/executor.js';
import type { FilteredWindow } from './args.js';
import { customerFilterSql } from './customer-filter.js';
import { Params, T } from './sql.js';

/** Customers, repeat customers and orders in [from, to), nothing after asOf. */
export function repeatPurchaseSql(a: FilteredWindow): SqlQuery {
  const p = new Params();
  const asOf = p.time(a.asOf, 'asOf');
  const filter = customerFilterSql(a.filter, asOf, p);
  return p.sql(`
    SELECT count() AS customers, countIf(n >= 2) AS repeat_customers, sum(n) AS orders
    FROM (
      SELECT customer_id, count() AS n FROM ${T.purchases}
      WHERE occurred_at >= ${p.time(a.from, 'from')} AND occurred_at < ${p.time(a.to, 'to')} AND occurred_at <= ${asOf}
        ${filter ? `AND ${filter}` : ''}
      GROUP BY customer_id
    )`);
}
