// Refunds and cancellations (spec section 12): which purchases count as of an instant, and
// the refunds that subtract from revenue. Every KPI that reads purchases reads them through
// these fragments, so the rules live here once:
// - a refund belongs to the purchase of the same customer and currency whose order key
//   (orderId, else eventId) is the refund's orderId; of several, the earliest (then the
//   smallest eventId). Only purchases and refunds at or before asOf exist;
// - an order whose refunds add up to at least its amount is cancelled: it and its refunds
//   count nowhere;
// - a refund of an order that is not cancelled subtracts its amount at its own time.
// The earliest matching purchase at or before asOf is the earliest matching purchase ever
// whenever it exists, so which purchase a refund belongs to never changes with asOf; whether
// the order is cancelled does.
//
// Two sources give the same refunded orders: 'raw' groups the refunds with the purchases of
// customers with a refund (a scan of most of the purchases once a quarter of the customers
// have refunded, the reference the equality tests compare with); 'auto' reads the
// pre-aggregated refund_orders (migration 0014), one row per refunded order, a few percent of
// the purchases. A store without refunds pays a read of an empty table.
import type { SqlQuery } from '../server/storage/executor.js';
import { Params, T, type Source } from './sql.js';

/** The columns of a purchase row every reader may use; ordersSql and netOrdersSql keep them. */
const PURCHASE_COLUMNS = 'event_id, customer_id, occurred_at, amount, currency, order_id, channel';

/** Customers with a refund at or before `asOf`: the only ones whose purchases refunds can change. */
function refundCustomersSql(asOf: string): string {
  return `SELECT customer_id FROM ${T.refunds} WHERE occurred_at <= ${asOf}`;
}

/**
 * Per order that refunds at or before `asOf` belong to: `customer_id`, `currency`, the
 * purchase's `event_id`, `amount` and `purchased_at`, its `refunded` total, whether that
 * `cancelled` it, and its `refunds` as (occurred_at, amount) pairs. Refunds that belong to no
 * purchase find no row.
 *
 * Raw: one GROUP BY over the refunds and the purchases of customers with a refund, keyed by
 * (customer, currency, order key): no join, and the purchases are found through their
 * customer_id key. The earliest purchase of a key is the smallest (occurred_at, event_id);
 * the `p_` names keep the aggregates from shadowing the columns they read.
 * State: the same from each refund_orders row's purchases and refunds up to asOf; the
 * smallest (at, event_id, amount) tuple is the earliest purchase, ties by the smaller id.
 */
export function refundedOrdersSql(asOf: string, source: Source): string {
  if (source === 'auto') {
    return `
      SELECT customer_id, currency, p.2 AS event_id, p.3 AS amount, p.1 AS purchased_at, arraySum(r -> r.2, refunds) AS refunded,
        refunded >= amount AS cancelled, refunds
      FROM (
        SELECT customer_id, toString(currency) AS currency, arrayMin(arrayFilter(x -> x.1 <= ${asOf}, purchases)) AS p,
          arrayMap(x -> (x.1, x.3), arrayFilter(x -> x.1 <= ${asOf}, refunds)) AS refunds
        FROM ${T.refundOrders} FINAL
        WHERE arrayExists(x -> x.1 <= ${asOf}, purchases) AND arrayExists(x -> x.1 <= ${asOf}, refunds)
      )`;
  }
  return `
    SELECT customer_id, currency,
      argMinIf(p_event_id, (p_at, p_event_id), is_purchase) AS event_id, argMinIf(p_amount, (p_at, p_event_id), is_purchase) AS amount,
      minIf(p_at, is_purchase) AS purchased_at, sumIf(p_amount, NOT is_purchase) AS refunded, refunded >= amount AS cancelled,
      groupArrayIf((p_at, p_amount), NOT is_purchase) AS refunds
    FROM (
      SELECT customer_id, toString(currency) AS currency, ifNull(order_id, event_id) AS order_key, event_id AS p_event_id,
        amount AS p_amount, occurred_at AS p_at, true AS is_purchase
      FROM ${T.purchases} WHERE occurred_at <= ${asOf} AND customer_id IN (${refundCustomersSql(asOf)})
      UNION ALL
      SELECT customer_id, toString(currency), order_id, event_id, amount, occurred_at, false
      FROM ${T.refunds} WHERE occurred_at <= ${asOf}
    )
    GROUP BY customer_id, currency, order_key
    HAVING countIf(is_purchase) > 0 AND countIf(NOT is_purchase) > 0`;
}

/** Event ids of the purchases cancelled as of `asOf`, those whose instant `during` keeps if given. */
function cancelledIdsSql(asOf: string, source: Source, during?: During): string {
  return `SELECT event_id FROM (${refundedOrdersSql(asOf, source)}) WHERE cancelled${during ? ` AND ${during('purchased_at')}` : ''}`;
}

/** A condition on an instant column, given its name: the window a reader keeps. */
export type During = (column: string) => string;

/** The window [from, to) (placeholders) on a column. */
export const within =
  (from: string, to: string): During =>
  (column) =>
    `${column} >= ${from} AND ${column} < ${to}`;

/**
 * The purchases that are orders as of `asOf`: at or before it and not cancelled, with the
 * purchases table's columns. Readers put it where they read `purchases`. `only`, a condition
 * on customer_id, and `during`, the window of purchase instants a reader keeps, are applied
 * inside, on the table's own columns, rather than left to predicate pushdown.
 */
export function ordersSql(asOf: string, source: Source, only?: string, during?: During): string {
  // As PREWHERE: the few customers' rows, or the window's, are found before any other column is
  // read, and the cancelled-order check hashes their event ids only (at 10M purchases, a look-up
  // of 2% of the customers took half the time, and a week's CLV three times as long with the
  // window applied outside: docs/performance.md).
  // The cancelled orders looked up are those in the window too: a set of a few percent of the
  // window's rows rather than of every cancelled order (half of a week's CLV at 10M purchases).
  // A row's event id is first looked up by its 64-bit hash, and only rows whose hash is in the
  // set (the cancelled ones, and a collision if any) are looked up by the id itself, so the
  // answer is the id set's: a set of strings probed for every one of 10M rows cost 660 ms, the
  // hashes 400 ms (`if` evaluates its second branch only on the rows that take it).
  const narrow = [only, during?.('occurred_at')].filter(Boolean);
  const cancelled = cancelledIdsSql(asOf, source, during);
  return `SELECT ${PURCHASE_COLUMNS} FROM ${T.purchases}${narrow.length > 0 ? ` PREWHERE ${narrow.join(' AND ')}` : ''}
    WHERE occurred_at <= ${asOf}
      AND if(cityHash64(event_id) IN (SELECT cityHash64(event_id) FROM (${cancelled})), event_id NOT IN (${cancelled}), true)`;
}

/**
 * What revenue sums as of `asOf`: every order (`is_order` = 1, its amount at its time) and every
 * refund of an order that is not cancelled (`is_order` = 0, minus its amount at the refund's
 * time). Order counts, activity and first purchases take `is_order` rows only; revenue takes all.
 * `only` and `during` narrow both kinds of rows (ordersSql).
 */
export function ledgerSql(asOf: string, source: Source, only?: string, during?: During): string {
  return `
    SELECT customer_id, occurred_at, amount, currency, toUInt8(1) AS is_order FROM (${ordersSql(asOf, source, only, during)})
    UNION ALL
    SELECT customer_id, occurred_at, amount, currency, toUInt8(0) AS is_order FROM (${refundEntriesSql(asOf, source, only, during)})`;
}

/** The refunds that subtract from revenue as of `asOf` (those of orders not cancelled): customer_id, occurred_at, amount (negative), currency. */
function refundEntriesSql(asOf: string, source: Source, only?: string, during?: During): string {
  return `
    SELECT customer_id, refund.1 AS occurred_at, -refund.2 AS amount, currency
    FROM (SELECT customer_id, currency, refunds FROM (${refundedOrdersSql(asOf, source)}) WHERE NOT cancelled${only ? ` AND ${only}` : ''})
    ARRAY JOIN refunds AS refund${during ? ` WHERE ${during('occurred_at')}` : ''}`;
}

/**
 * The orders as of `asOf`, each with its amount net of its refunds up to `asOf` (the
 * predictive model's monetary value of an order), purchases table's columns. ifNull covers
 * both join modes: an order without refunds gets 0 or NULL, as the caller's join_use_nulls says.
 */
export function netOrdersSql(asOf: string, source: Source): string {
  return `
    SELECT o.event_id AS event_id, o.customer_id AS customer_id, o.occurred_at AS occurred_at,
      o.amount - ifNull(r.refunded, toDecimal128(0, 4)) AS amount, o.currency AS currency, o.order_id AS order_id, o.channel AS channel
    FROM (${ordersSql(asOf, source)}) AS o
    LEFT JOIN (SELECT event_id, refunded FROM (${refundedOrdersSql(asOf, source)}) WHERE NOT cancelled) AS r ON r.event_id = o.event_id`;
}

export interface RefundWindow {
  from: Date;
  to: Date;
  currency: string;
  asOf: Date;
}

/**
 * kpiSnapshot's refund figures over [from, to), nothing after asOf: `refund_amount`, the refunds
 * in the window and `currency` that belong to orders not cancelled (exact Decimal as text), and
 * `cancelled_orders`, the purchases in the window (every currency) cancelled as of asOf.
 */
export function refundSummarySql(a: RefundWindow, source: Source = 'auto'): SqlQuery {
  const p = new Params(source);
  const asOf = p.time(a.asOf, 'asOf');
  const from = p.time(a.from, 'from');
  const to = p.time(a.to, 'to');
  const currency = p.add('String', a.currency, 'currency');
  return p.sql(`
    SELECT
      (SELECT toString(-sum(amount)) FROM (${refundEntriesSql(asOf, source)})
        WHERE currency = ${currency} AND occurred_at >= ${from} AND occurred_at < ${to}) AS refund_amount,
      (SELECT count() FROM (${refundedOrdersSql(asOf, source)})
        WHERE cancelled AND purchased_at >= ${from} AND purchased_at < ${to}) AS cancelled_orders`);
}
