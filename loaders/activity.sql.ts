import { UnreachableCaseError } from './errors.js';
import { Grain } from './grain.js';
import { ledgerSql, ordersSql, refundCustomer } from './refunds.sql.js';
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
 * First purchase per customer as of `asOf`: a minimum over all purchases is at or before asOf
 * exactly when any purchase is. Customers with a refund up to asOf come from their orders
 * (refunds.sql.ts): a cancellation can move their first purchase later, or remove it.
 */
export function firstPurchasesFromState(asOf: string): string {
  return `
    SELECT customer_id, first_at FROM ${T.activity} FINAL WHERE first_at <= ${asOf} AND ${refundCustomer(asOf, false)}
    UNION ALL
    SELECT customer_id, min(occurred_at) AS first_at FROM (${ordersSql(asOf, refundCustomer(asOf))}) GROUP BY customer_id`;
}

/**
 * One row per customer with a purchase at or before `asOf`, `filter` applied: `customer_id`,
 * `first_at`, `last_month` (the UTC month of their last purchase up to asOf) and the state
 * column restricted to purchases up to asOf: for `months`, `x` (may repeat a month); for
 * `sales`, its entries as four parallel arrays `sale_month`, `sale_currency`, `sale_amount` and
 * `sale_orders`, which a query can ARRAY JOIN without building tuples. They are taken with
 * tupleElement() from the whole column: the subcolumn syntax `sales.month` reads under FINAL
 * without merging the parts' arrays (ClickHouse 26.7), so a customer whose rows were not
 * merged yet lost entries (tests/preaggregation.test.ts caught it).
 *
 * A customer whose last purchase is at or before asOf is read as stored. Only customers with
 * purchases after asOf (none when asOf is now) need more: their months before asOf's UTC month
 * from the state, and asOf's own month from the raw purchases in [start of that month, asOf],
 * found through the raw table's customer_id key. When no purchase is later than asOf, the
 * `customer_id IN` set is empty and key analysis drops every granule of that branch unread; a
 * constant guard such as `(SELECT max(last_at) …) > asOf` does not: the engine still reads
 * the whole state for it (docs/performance.md).
 *
 * Refunds make a customer's history non-monotone (a cancellation removes an order, and with it
 * maybe a month or the first purchase), which min/max/concatenation states cannot undo. So the
 * state serves only customers without a refund up to asOf, whose orders are exactly their
 * purchases; a customer with one is rebuilt from their orders and net revenue
 * (refunds.sql.ts, read through the raw tables' customer_id key) in the same shape. Refunds of
 * orders not cancelled become `sales` entries with 0 orders, so readers take activity from
 * entries with orders (docs/architecture.md, "Refunds and cancellations").
 */
export function customerStateSql(column: 'months' | 'sales', asOf: string, filter: string | null): string {
  const asOfMonth = monthOf(asOf);
  const monthStart = `toDateTime64(toStartOfMonth(${asOf}), 3, 'UTC')`;
  const and = filter ? ` AND ${filter}` : '';
  const noRefund = refundCustomer(asOf, false);
  const later = `customer_id IN (SELECT customer_id FROM ${T.activity} WHERE last_at > ${asOf}${and}) AND ${noRefund}`;
  const refunded = `${refundCustomer(asOf)}${and}`;
  const months = column === 'months';
  // Per branch: the stored columns, the merged later ones, and asOf's own month from raw purchases.
  const stored = months
    ? 'months AS x'
    : "tupleElement(sales, 'month') AS sale_month, tupleElement(sales, 'currency') AS sale_currency, " +
      "tupleElement(sales, 'amount') AS sale_amount, tupleElement(sales, 'orders') AS sale_orders";
  const merged = months ? 'arrayMax(x) AS last_month, x' : 'arrayMax(x.month) AS last_month, x.month, x.currency, x.amount, x.orders';
  const before = months ? `arrayFilter(m -> m < ${asOfMonth}, months)` : `arrayFilter(s -> s.month < ${asOfMonth}, sales)`;
  const own = months
    ? `[${asOfMonth}]`
    : `[CAST((${asOfMonth}, toFixedString(toString(currency), 3), sum(toDecimal128(amount, 4)), toUInt32(count())), '${SALE}')]`;
  // Customers with refunds, from their orders (months) or their ledger (sales), grouped like the view.
  const rebuilt = months
    ? `SELECT customer_id, min(occurred_at) AS first_at, ${monthOf('max(occurred_at)')} AS last_month, groupUniqArray(${monthOf('occurred_at')}) AS x
       FROM (${ordersSql(asOf, refunded)}) GROUP BY customer_id`
    : `SELECT customer_id, minIf(first_at, orders > 0) AS first_at, ${monthOf('maxIf(last_at, orders > 0)')} AS last_month,
         groupArray(month), groupArray(currency), groupArray(amount), groupArray(orders)
       FROM (
         SELECT customer_id, ${monthOf('occurred_at')} AS month, toFixedString(toString(currency), 3) AS currency,
           minIf(occurred_at, is_order = 1) AS first_at, maxIf(occurred_at, is_order = 1) AS last_at,
           sum(toDecimal128(amount, 4)) AS amount, toUInt32(countIf(is_order = 1)) AS orders
         FROM (${ledgerSql(asOf, refunded)})
         GROUP BY customer_id, month, currency
       ) GROUP BY customer_id`;
  return `
    SELECT customer_id, first_at, ${monthOf('last_at')} AS last_month, ${stored} FROM ${T.activity} FINAL
    WHERE first_at <= ${asOf} AND last_at <= ${asOf}${and} AND ${noRefund}
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
    )
    UNION ALL
    ${rebuilt}`;
}
