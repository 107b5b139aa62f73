import type { SqlQuery } from '../server/storage/executor.js';
import type { FilteredWindow, Window } from './args.js';
import { customerFilterSql, latestProfilesSql } from './customer-filter.js';
import { firstPurchasesSql } from './cohort.sql.js';
import { ledgerSql } from './refunds.sql.js';
import { Params, T, windowList, type Source } from './sql.js';

/**
 * The ids of `list` that an event other than a purchase or a refund names at or before `at`: a
 * survey response, a profile, a loyalty event, a touch, or a referral naming them as referrer or
 * referred customer. A customer exists once any event names them (kpi-spec section 1), but a
 * cancelled order and its refunds, and a refund of no purchase, count nowhere, customer(s)
 * included (section 12): purchases and refunds make a customer known through their orders.
 */
function namedSql(list: string, at: string): string {
  const named = (table: string, column = 'customer_id') => `SELECT ${column} AS id FROM ${table} WHERE ${column} IN ${list} AND occurred_at <= ${at}`;
  return [T.surveys, T.customers, T.loyalty, T.touches]
    .map((table) => named(table))
    .concat(named(T.referrals, 'referrer_id'), named(T.referrals, 'assumeNotNull(referred_customer_id)'))
    .join(' UNION DISTINCT ');
}

/** Order history (net revenue per currency; refunds.sql.ts), latest profile and whether another event names them, of many customers in one query (the DataLoader's batch). */
export function customerStatsSql(ids: readonly string[], asOf: Date): SqlQuery {
  const p = new Params();
  const at = p.time(asOf, 'asOf');
  const list = p.add('Array(String)', ids, 'ids');
  return p.sql(`
    SELECT id AS customer_id,
           toString(pu.first_at) AS first_at, toString(pu.last_at) AS last_at, pu.orders AS orders, pu.revenue AS revenue,
           pr.latest.1 AS country, pr.latest.2 AS channel, pr.latest.3 AS segment, id IN (${namedSql(list, at)}) AS named
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

/**
 * Customers whose first purchase ever lies in each window: a row `w, n` per window that has any
 * (`w` its 1-based position). Every window is answered from one read of the first purchases, which
 * is most of the cost (every customer's state, and the instants of those whose first order was
 * cancelled), so a series or an alert run asks once for all of its windows.
 */
export function newCustomersSql(a: Omit<FilteredWindow, 'from' | 'to'>, windows: readonly Window[], source: Source = 'auto'): SqlQuery {
  const p = new Params(source);
  const asOf = p.time(a.asOf, 'asOf');
  const filter = customerFilterSql(a.filter, asOf, p);
  const w = windowList(windows, p);
  return p.sql(`
    SELECT ${w.position('w')}, count() AS n
    FROM (
      SELECT first_at FROM (${firstPurchasesSql(asOf, p.source)})
      WHERE first_at >= ${w.from} AND first_at < ${w.to}${filter ? ` AND ${filter}` : ''}
    )
    ${w.join('first_at', 'w')}
    GROUP BY w
    ORDER BY w`);
}
