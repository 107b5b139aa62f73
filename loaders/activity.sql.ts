import { UnreachableCaseError } from './errors.js';
import { Grain } from './grain.js';
import { ordersSql, refundedOrdersSql } from './refunds.sql.js';
import { T } from './sql.js';

/**
 * Reading the pre-aggregated per-customer state (migrations/0010_create_customer_activity.sql)
 * instead of raw purchases. The state keeps, per customer, the first and last purchase
 * instants and the UTC months with purchases (with per-month, per-currency sums), merged
 * exactly from whatever parts exist (FINAL). docs/architecture.md, "Pre-aggregation", has the
 * argument for why every query below equals its raw-table counterpart.
 */

/** The type of one `sales` entry: per-insert partial sums of one (UTC month, currency). */
export const SALE = 'Tuple(month UInt16, currency FixedString(3), amount Decimal(38, 4), orders UInt32)';

/**
 * A value above every month number (2099-12 is 25199) and below UInt16's limit: a marker row a
 * query appends to each customer's months, so one ARRAY JOIN also counts customers.
 */
export const MARKER = 60000;

/** Periods that are unions of whole UTC months: the only ones the month-level state can count. */
export function monthAligned(grain: Grain, timezone: string): boolean {
  return timezone === 'UTC' && (grain === Grain.MONTH || grain === Grain.QUARTER || grain === Grain.YEAR);
}

/** Both ends of a window on UTC month starts: the state's per-month sums then cover it exactly. */
export function monthWindow(from: Date, to: Date): boolean {
  const onMonthStart = (d: Date) => d.getUTCDate() === 1 && d.getTime() % 86_400_000 === 0;
  return onMonthStart(from) && onMonthStart(to);
}

/** The state's month number (year * 12 + month - 1) of an instant, in UTC. */
export function monthOf(instant: string): string {
  return `toUInt16(toYear(${instant}) * 12 + toMonth(${instant}) - 1)`;
}

/** A month number as the period index of `grain` (grain.ts periodIndex), for month-aligned grains. */
export function monthToPeriod(grain: Grain, month: string): string {
  switch (grain) {
    case Grain.MONTH:
      return `toInt32(${month})`;
    case Grain.QUARTER:
      return `toInt32(intDiv(${month}, 3))`;
    case Grain.YEAR:
      return `toInt32(intDiv(${month}, 12))`;
    case Grain.DAY:
    case Grain.WEEK:
      throw new Error(`${grain} periods are not unions of months`);
    default:
      throw new UnreachableCaseError(grain);
  }
}

/** A state array of month numbers as period indexes of `grain`, UInt16 (a month number already is one). */
export function monthsToPeriods(grain: Grain, months: string): string {
  return grain === Grain.MONTH ? months : `arrayMap(m -> toUInt16(${monthToPeriod(grain, 'm')}), ${months})`;
}

/**
 * The distinct period indexes of `grain` among a state array of month numbers, keeping only
 * those for which `keep(i)` holds. Filtering before the per-row arrayDistinct leaves it less
 * to hash (docs/performance.md).
 */
export function statePeriods(grain: Grain, months: string, keep: (i: string) => string): string {
  return `arrayDistinct(arrayFilter(i -> ${keep('i')}, ${monthsToPeriods(grain, months)}))`;
}

/**
 * Per customer with a refund that counts as of `asOf` (refunds.sql.ts, from refund_orders): `fixes`,
 * what the refunds change in their `sales` entries, as entries of the same shape with signed
 * orders (a cancelled order: its month and currency, minus its amount, -1 order; a refund of an
 * order not cancelled: the refund's month, minus its amount, 0 orders); `cancels`, how many of
 * their orders are cancelled; and `cancelled_at`, those orders' instants.
 */
function refundFixesSql(asOf: string, only: string): string {
  return `
    SELECT customer_id, groupArrayArray(if(cancelled,
        [(${monthOf('purchased_at')}, cur, -toDecimal128(amount, 4), toInt64(-1))],
        arrayMap(r -> (${monthOf('r.1')}, cur, -toDecimal128(r.2, 4), toInt64(0)), refunds))) AS fixes,
      countIf(cancelled) AS cancels, groupArrayIf(purchased_at, cancelled) AS cancelled_at
    FROM (SELECT *, toFixedString(currency, 3) AS cur FROM (${refundedOrdersSql(asOf, 'auto')}) WHERE ${only})
    GROUP BY customer_id`;
}

/** Customers with an order cancelled as of `asOf`: their activity and first purchase change. */
function cancellersSql(asOf: string): string {
  return `SELECT customer_id FROM (${refundedOrdersSql(asOf, 'auto')}) WHERE cancelled`;
}

/**
 * First purchase per customer as of `asOf`: a minimum over all purchases is at or before asOf
 * exactly when any purchase is, and it is the first order unless a refund cancelled it. Only
 * customers whose minimum is such an order (a few in a thousand: refund_orders knows the
 * cancelled orders' instants) are looked up in their raw orders, through the customer_id key.
 */
export function firstPurchasesFromState(asOf: string): string {
  const firstCancelled = `
    SELECT customer_id FROM (${refundedOrdersSql(asOf, 'auto')})
    WHERE cancelled AND (customer_id, purchased_at) IN (
      SELECT customer_id, first_at FROM ${T.activity} FINAL WHERE customer_id IN (${cancellersSql(asOf)}))`;
  return `
    SELECT customer_id, first_at FROM ${T.activity} FINAL WHERE first_at <= ${asOf} AND customer_id NOT IN (${firstCancelled})
    UNION ALL
    SELECT customer_id, min(occurred_at) AS first_at FROM (${ordersSql(asOf, 'auto', `customer_id IN (${firstCancelled})`)}) GROUP BY customer_id`;
}

/**
 * One row per customer with an order at or before `asOf`, `filter` applied: `customer_id`,
 * `first_month` and `last_month` (the UTC months of their first and last order up to asOf) and
 * the state column restricted to purchases up to asOf: for `months`, `x` (may repeat a month);
 * for `sales`, its entries as four parallel arrays `sale_month`, `sale_currency`, `sale_amount`
 * and `sale_orders`, which a query can ARRAY JOIN without building tuples. They are taken with
 * tupleElement() from the whole column: the subcolumn syntax `sales.month` reads under FINAL
 * without merging the parts' arrays (ClickHouse 26.7), so a customer whose rows were not
 * merged yet lost entries (tests/preaggregation.test.ts caught it).
 *
 * Refunds (docs/architecture.md, "Refunds and cancellations"): the state holds purchases, and
 * refund_orders the refunded orders, both exact whatever the merges. A customer without a
 * cancelled order as of asOf is read as stored, their refunds of orders not cancelled appended
 * to `sales` as entries with 0 orders (readers take activity from entries with orders). A
 * customer with one (under a fifth of the customers when 2% of the orders are cancelled) is read
 * from `sales` with their fixes summed into it per (month, currency): a month whose orders were
 * all cancelled keeps 0 orders, and their first and last months are those with orders left.
 */
export function customerStateSql(column: 'months' | 'sales', asOf: string, filter: string | null): string {
  const only = filter ?? 'true';
  const cancellers = `customer_id IN (${cancellersSql(asOf)})`;
  const plainMonths = (cond: string) => `
    SELECT customer_id, ${monthOf('first_at')} AS first_month, last_month, x FROM (${stateRowsSql('months', asOf, `${cond} AND ${only}`)})`;
  // Sales entries as tuples with signed orders, so fixes add to them.
  const entries = "arrayMap((m, c, a, n) -> (m, c, a, toInt64(n)), sale_month, sale_currency, sale_amount, sale_orders)";
  const fixed = `
    SELECT customer_id, keys, amounts, orders, arrayFilter((k, n) -> n > 0, keys, orders) AS active
    FROM (
      SELECT s.customer_id AS customer_id, arrayConcat(${entries}, f.fixes) AS e, arrayDistinct(arrayMap(t -> (t.1, t.2), e)) AS keys,
        arrayMap(k -> arraySum(arrayMap(t -> if((t.1, t.2) = k, t.3, toDecimal128(0, 4)), e)), keys) AS amounts,
        arrayMap(k -> arraySum(arrayMap(t -> if((t.1, t.2) = k, t.4, 0), e)), keys) AS orders
      FROM (${stateRowsSql('sales', asOf, `${cancellers} AND ${only}`)}) AS s
      INNER JOIN (${refundFixesSql(asOf, `${cancellers} AND ${only}`)}) AS f ON f.customer_id = s.customer_id
    )
    WHERE notEmpty(active)`;
  if (column === 'months') {
    return `
      ${plainMonths(`customer_id NOT IN (${cancellersSql(asOf)})`)}
      UNION ALL
      SELECT customer_id, arrayMin(arrayMap(k -> k.1, active)) AS first_month, arrayMax(arrayMap(k -> k.1, active)) AS last_month,
        arrayMap(k -> k.1, active) AS x
      FROM (${fixed})`;
  }
  return `
    SELECT s.customer_id AS customer_id, ${monthOf('s.first_at')} AS first_month, s.last_month AS last_month,
      arrayConcat(s.sale_month, arrayMap(t -> t.1, r.fixes)) AS sale_month, arrayConcat(s.sale_currency, arrayMap(t -> t.2, r.fixes)) AS sale_currency,
      arrayConcat(s.sale_amount, arrayMap(t -> t.3, r.fixes)) AS sale_amount, arrayConcat(s.sale_orders, arrayMap(t -> toUInt32(t.4), r.fixes)) AS sale_orders
    FROM (${stateRowsSql('sales', asOf, `customer_id NOT IN (${cancellersSql(asOf)}) AND ${only}`)}) AS s
    LEFT JOIN (${refundFixesSql(asOf, `customer_id NOT IN (${cancellersSql(asOf)}) AND ${only}`)}) AS r ON r.customer_id = s.customer_id
    UNION ALL
    SELECT customer_id, arrayMin(arrayMap(k -> k.1, active)) AS first_month, arrayMax(arrayMap(k -> k.1, active)) AS last_month,
      arrayMap(k -> k.1, keys) AS sale_month, arrayMap(k -> k.2, keys) AS sale_currency, amounts AS sale_amount, arrayMap(n -> toUInt32(n), orders) AS sale_orders
    FROM (${fixed})`;
}

/**
 * The stored state rows of the customers for which `cond` holds, with a purchase at or before
 * `asOf`, restricted to purchases up to asOf: `customer_id`, `first_at`, `last_month` and the
 * column (customerStateSql's shapes), refunds not applied.
 *
 * A customer whose last purchase is at or before asOf is read as stored. Only customers with
 * purchases after asOf (none when asOf is now) need more: their months before asOf's UTC month
 * from the state, and asOf's own month from the raw purchases in [start of that month, asOf],
 * found through the raw table's customer_id key. When no purchase is later than asOf, the
 * `customer_id IN` set is empty and key analysis drops every granule of that branch unread; a
 * constant guard such as `(SELECT max(last_at) …) > asOf` does not: the engine still reads
 * the whole state for it (docs/performance.md).
 */
function stateRowsSql(column: 'months' | 'sales', asOf: string, cond: string): string {
  const asOfMonth = monthOf(asOf);
  const monthStart = `toDateTime64(toStartOfMonth(${asOf}), 3, 'UTC')`;
  const later = `customer_id IN (SELECT customer_id FROM ${T.activity} WHERE last_at > ${asOf} AND ${cond})`;
  const months = column === 'months';
  // Per branch: the stored columns, the merged later ones, and asOf's own month from raw purchases.
  const stored = months
    ? 'months AS x'
    : "tupleElement(sales, 'month') AS sale_month, tupleElement(sales, 'currency') AS sale_currency, " +
      "tupleElement(sales, 'amount') AS sale_amount, tupleElement(sales, 'orders') AS sale_orders";
  const merged = months
    ? 'arrayMax(x) AS last_month, x'
    : 'arrayMax(x.month) AS last_month, x.month AS sale_month, x.currency AS sale_currency, x.amount AS sale_amount, x.orders AS sale_orders';
  const before = months ? `arrayFilter(m -> m < ${asOfMonth}, months)` : `arrayFilter(s -> s.month < ${asOfMonth}, sales)`;
  const own = months
    ? `[${asOfMonth}]`
    : `[CAST((${asOfMonth}, toFixedString(toString(currency), 3), sum(toDecimal128(amount, 4)), toUInt32(count())), '${SALE}')]`;
  return `
    SELECT customer_id, first_at, ${monthOf('last_at')} AS last_month, ${stored} FROM ${T.activity} FINAL
    WHERE first_at <= ${asOf} AND last_at <= ${asOf} AND ${cond}
    UNION ALL
    SELECT customer_id, first_at, ${merged} FROM (
      SELECT customer_id, min(first_at) AS first_at, groupArrayArray(x) AS x FROM (
        SELECT customer_id, first_at, ${before} AS x FROM ${T.activity} FINAL
        WHERE ${later} AND first_at <= ${asOf}
        UNION ALL
        SELECT customer_id, min(occurred_at) AS first_at, ${own} AS x FROM ${T.purchases}
        WHERE ${later} AND occurred_at >= ${monthStart} AND occurred_at <= ${asOf}
        GROUP BY customer_id${months ? '' : ', currency'}
      ) GROUP BY customer_id
    )`;
}
