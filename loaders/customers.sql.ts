import type { SqlQuery } from '../server/storage/executor.js';
import type { FilteredWindow } from './args.js';
import { customerFilterSql, latestProfilesSql } from './customer-filter.js';
import { firstPurchasesSql } from './cohort.sql.js';
import { ledgerSql } from './refunds.sql.js';
import { Params, type Source } from './sql.js';

/** Order history (net revenue per currency; refunds.sql.ts) and latest profile of many customers in one query (the DataLoader's batch). */
export function customerStatsSql(ids: readonly string[], asOf: Date): SqlQuery {
  const p = new Params();
  const at = p.time(asOf, 'asOf');
  const list = p.add('Array(String)', ids, 'ids');
  return p.sql(`
    SELECT id AS customer_id,
           toString(pu.first_at) AS first_at, toString(pu.last_at) AS last_at, pu.orders AS orders, pu.revenue AS revenue,
           pr.latest.1 AS country, pr.latest.2 AS channel, pr.latest.3 AS segment, pr.customer_id != '' AS has_profile
    FROM (SELECT arrayJoin(${list}) AS id) AS ids
    LEFT JOIN (
      SELECT customer_id, min(first_at) AS first_at, max(last_at) AS last_at, sum(n) AS orders,
             arraySort(groupArray((currency, toString(amount)))) AS revenue
      FROM (
        SELECT customer_id, currency, minIf(occurred_at, is_order = 1) AS first_at, maxIf(occurred_at, is_order = 1) AS last_at,
          countIf(is_order = 1) AS n, sum(amount) AS amount
        FROM (${ledgerSql(at, p.source, `customer_id IN ${list}`)})
        GROUP BY customer_id, currency)
      GROUP BY customer_id
    ) AS pu ON pu.customer_id = ids.id
    LEFT JOIN (
      ${latestProfilesSql(at, `customer_id IN ${list}`)}
    ) AS pr ON pr.customer_id = ids.id`);
}

/** Customers whose first purchase ever lies in [from, to). */
export function newCustomersSql(a: FilteredWindow, source: Source = 'auto'): SqlQuery {
  const p = new Params(source);
  const asOf = p.time(a.asOf, 'asOf');
  const filter = customerFilterSql(a.filter, asOf, p);
  return p.sql(`
    SELECT count() AS n FROM (${firstPurchasesSql(asOf, p.source)})
    WHERE first_at >= ${p.time(a.from, 'from')} AND first_at < ${p.time(a.to, 'to')}${filter ? ` AND ${filter}` : ''}`);
}
