import { UnreachableCaseError } from './errors.js';
import { Grain, periodIndex, type Zone } from './grain.js';
import { refundedOrdersSql } from './refunds.sql.js';
import { T } from './sql.js';

/**
 * Reading the pre-aggregated per-customer state (migrations/0010_create_customer_activity.sql)
 * instead of raw purchases. The state keeps, per customer, the first and last purchase
 * instants, the UTC month and the instant of each purchase (one entry per purchase, with
 * per-month, per-currency sums), merged exactly from whatever parts exist (FINAL).
 * docs/architecture.md, "Pre-aggregation", has the argument for why every query below equals
 * its raw-table counterpart.
 */

/** The type of one `sales` entry: per-insert partial sums of one (UTC month, currency). */
export const SALE = 'Tuple(month UInt16, currency FixedString(3), amount Decimal(38, 4), orders UInt32)';

/**
 * A value above every period index of the calendar (grain.ts: the largest, DAY's of
 * 2099-12-31, is 47481; a month's is at most 25199) and below UInt16's limit: a marker row a
 * query appends to each customer's periods, so one ARRAY JOIN also counts customers.
 */
export const MARKER = 60000;

/**
 * The state's units of time: UTC months (`months`, `sales`) and instants (`instants`, each
 * purchase's occurred_at, from which its period of any grain in any zone is computed).
 */
export type StateUnit = 'month' | 'instant';

/**
 * The unit a period count of `grain` in `timezone` reads: the months when the periods are
 * unions of UTC months (MONTH, QUARTER and YEAR in UTC: no conversion per purchase), the
 * instants otherwise (DAY and WEEK, and every grain in other zones).
 */
export function stateUnit(grain: Grain, timezone: string): StateUnit {
  return timezone === 'UTC' && (grain === Grain.MONTH || grain === Grain.QUARTER || grain === Grain.YEAR) ? 'month' : 'instant';
}

/** The state column that holds a unit's values, one per purchase. */
export function stateColumn(unit: StateUnit): 'months' | 'instants' {
  return unit === 'month' ? 'months' : 'instants';
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

/** The state's value of `unit` for an instant: its UTC month number, or the instant itself. */
export function unitOf(unit: StateUnit, instant: string): string {
  return unit === 'month' ? monthOf(instant) : instant;
}

/**
 * Period indexes of `grain` in `zone` (grain.ts, Zone) from the state's values of
 * `unit` (stateUnit): `of(value)` for one, `all(array)` for an array, and `distinct(array,
 * keep)`, the distinct ones for which `keep(i)` holds. A month number is its MONTH index and
 * divides into QUARTER and YEAR ones (UInt16, as stored); an instant goes through grain.ts
 * periodIndex, the raw path's own arithmetic, as an Int32. Filtering before the per-row
 * arrayDistinct leaves it less to hash (docs/performance.md).
 */
export function statePeriods(grain: Grain, unit: StateUnit, zone: Zone) {
  const of = (value: string): string => {
    if (unit === 'instant') return periodIndex(grain, value, zone);
    switch (grain) {
      case Grain.MONTH:
        return `toInt32(${value})`;
      case Grain.QUARTER:
        return `toInt32(intDiv(${value}, 3))`;
      case Grain.YEAR:
        return `toInt32(intDiv(${value}, 12))`;
      case Grain.DAY:
      case Grain.WEEK:
        throw new Error(`${grain} periods are not unions of months`);
      default:
        throw new UnreachableCaseError(grain);
    }
  };
  const all = (values: string): string =>
    unit === 'month' && grain === Grain.MONTH ? values : `arrayMap(m -> ${unit === 'month' ? `toUInt16(${of('m')})` : of('m')}, ${values})`;
  const distinct = (values: string, keep: (i: string) => string): string => `arrayDistinct(arrayFilter(i -> ${keep('i')}, ${all(values)}))`;
  return { of, all, distinct };
}

/**
 * Per customer with a refund that counts as of `asOf` (refunds.sql.ts, from refund_orders):
 * `fixes`, what the refunds change in their `sales` entries, as entries of the same shape with
 * signed orders (a cancelled order: its month and currency, minus its amount, -1 order; a refund
 * of an order not cancelled: the refund's month, minus its amount, 0 orders).
 */
function refundFixesSql(asOf: string): string {
  return `
    SELECT customer_id, groupArrayArray(if(cancelled,
        [(${monthOf('purchased_at')}, cur, -toDecimal128(amount, 4), toInt64(-1))],
        arrayMap(r -> (${monthOf('r.1')}, cur, -toDecimal128(r.2, 4), toInt64(0)), refunds))) AS fixes
    FROM (SELECT *, toFixedString(currency, 3) AS cur FROM (${refundedOrdersSql(asOf, 'auto')}))
    GROUP BY customer_id`;
}

/** Per customer with an order cancelled as of `asOf`: `cancelled_units`, the `unit` value of each (a multiset, like `months` and `instants`). */
function cancelledUnitsSql(unit: StateUnit, asOf: string): string {
  return `SELECT customer_id, groupArray(${unitOf(unit, 'purchased_at')}) AS cancelled_units FROM (${refundedOrdersSql(asOf, 'auto')}) WHERE cancelled GROUP BY customer_id`;
}

/**
 * The multiset `values` less one entry per entry of `cancelled`: the k-th occurrence of a value
 * stays when k exceeds its count among the cancelled ones. arrayEnumerateUniq numbers the
 * occurrences in one hash pass; counting each value's occurrences (countEqual per entry) is
 * quadratic: at 10M purchases the instants' state with its fixes took 340 ms that way, 250 ms
 * this way (their values are nearly all distinct).
 */
function withoutCancelled(values: string, cancelled: string): string {
  return `arrayFilter((v, k) -> k > countEqual(${cancelled}, v), ${values}, arrayEnumerateUniq(${values}))`;
}

/**
 * First purchase per customer as of `asOf`: a minimum over all purchases is at or before asOf
 * exactly when any purchase is, and it is the first order unless a refund cancelled it. Only
 * customers whose minimum is such an order (about one in fifty when 2% of the orders are
 * cancelled; refund_orders knows the cancelled orders' instants) need more: their first order
 * is the earliest of their `instants` up to asOf that outnumbers their cancelled orders at that
 * instant (a multiset, as customerStateSql takes cancelled months out); a customer with none
 * left has no first purchase. Both branches use the same set of cancelled (customer, instant)
 * pairs; the engine builds a set once for identical subqueries.
 * The pairs are looked up by their 64-bit hash: a set of (String, DateTime64) tuples cost
 * about 210 ms over the million state rows at 10M purchases, the hashes 40 ms. A collision
 * cannot change an answer: it only sends a customer whose first order stands to the second
 * branch, which finds that same order, and both branches use the same test, so every
 * customer is in exactly one.
 */
export function firstPurchasesFromState(asOf: string): string {
  const moved = `cityHash64(customer_id, first_at) IN (SELECT cityHash64(customer_id, purchased_at) FROM (${refundedOrdersSql(asOf, 'auto')}) WHERE cancelled)`;
  const kept = `arrayFilter(t -> t <= ${asOf}, ${withoutCancelled('s.instants', 'r.cancelled_units')})`;
  return `
    SELECT customer_id, first_at FROM ${T.activity} FINAL WHERE first_at <= ${asOf} AND NOT ${moved}
    UNION ALL
    SELECT customer_id, arrayMin(kept) AS first_at FROM (
      SELECT s.customer_id AS customer_id, ${kept} AS kept
      FROM (SELECT customer_id, instants FROM ${T.activity} FINAL WHERE first_at <= ${asOf} AND ${moved}) AS s
      LEFT JOIN (${cancelledUnitsSql('instant', asOf)}) AS r ON r.customer_id = s.customer_id
    )
    WHERE notEmpty(kept)`;
}

/**
 * One row per customer with an order at or before `asOf`, `filter` applied, and the state
 * column restricted to purchases up to asOf. For `months` and `instants`: `first_unit` and
 * `last_unit` (the UTC month or the instant of their first and last order up to asOf) and `x`
 * (may repeat a value). For `sales`: `first_month` and `last_month`, and its entries as four
 * parallel arrays `sale_month`, `sale_currency`, `sale_amount`
 * and `sale_orders`, which a query can ARRAY JOIN without building tuples. They are taken with
 * tupleElement() from the whole column: the subcolumn syntax `sales.month` reads under FINAL
 * without merging the parts' arrays (ClickHouse 26.7), so a customer whose rows were not
 * merged yet lost entries (tests/preaggregation.test.ts caught it).
 *
 * Refunds (docs/architecture.md, "Refunds and cancellations"): the state holds every purchase,
 * refund_orders the refunded orders, both exact whatever the merges, and one LEFT JOIN puts a
 * customer's refund fixes next to their state row. Without fixes the row is read as stored.
 * `months` and `instants` hold one entry per purchase, so a month or instant keeps the entries
 * that outnumber the cancelled orders in it. `sales` gets the fixes summed into its entries per (month, currency):
 * a month whose orders were all cancelled keeps 0 orders, one with a partial refund its net
 * amount, and readers take activity from entries with orders. First and last months are those
 * with orders left; a customer with none left is no customer.
 */
export function customerStateSql(column: 'months' | 'instants' | 'sales', asOf: string, filter: string | null): string {
  const rows = stateRowsSql(column, asOf, filter ?? 'true');
  if (column !== 'sales') {
    const unit = column === 'instants' ? 'instant' : 'month';
    const kept = withoutCancelled('s.x', 'r.cancelled_units');
    return `
      SELECT customer_id, if(fixed, arrayMin(x), ${unitOf(unit, 'first_at')}) AS first_unit, if(fixed, arrayMax(x), last_unit) AS last_unit, x
      FROM (
        SELECT s.customer_id AS customer_id, s.first_at AS first_at, s.last_unit AS last_unit, notEmpty(r.cancelled_units) AS fixed,
          if(fixed, ${kept}, s.x) AS x
        FROM (${rows}) AS s LEFT JOIN (${cancelledUnitsSql(unit, asOf)}) AS r ON r.customer_id = s.customer_id
      )
      WHERE notEmpty(x)`;
  }
  // Entries of a (month, currency) the fixes touch are replaced by one summed entry; the others
  // stay as stored. A customer's fixes touch one or two keys, so the sums per touched key over
  // the entries cost little (a lambda per key over all entries was several times slower).
  const kept = (col: string) => `arrayFilter((x, m, c) -> NOT has(fk, (m, c)), ${col}, s.sale_month, s.sale_currency)`;
  const sum = (col: string, i: number, zero: string) =>
    `arrayMap(k -> arraySum(arrayMap((x, m, c) -> if((m, c) = k, x, ${zero}), ${col}, s.sale_month, s.sale_currency)) + arraySum(t -> if((t.1, t.2) = k, t.${i}, ${zero}), r.fixes), fk)`;
  return `
    SELECT customer_id, if(fixed, arrayMin(active), ${monthOf('first_at')}) AS first_month, if(fixed, arrayMax(active), last_unit) AS last_month,
      sale_month, sale_currency, sale_amount, sale_orders
    FROM (
      SELECT s.customer_id AS customer_id, s.first_at AS first_at, s.last_unit AS last_unit, notEmpty(r.fixes) AS fixed,
        arrayDistinct(arrayMap(t -> (t.1, t.2), r.fixes)) AS fk,
        if(fixed, arrayConcat(${kept('s.sale_month')}, arrayMap(k -> k.1, fk)), s.sale_month) AS sale_month,
        if(fixed, arrayConcat(${kept('s.sale_currency')}, arrayMap(k -> k.2, fk)), s.sale_currency) AS sale_currency,
        if(fixed, arrayConcat(${kept('s.sale_amount')}, ${sum('s.sale_amount', 3, 'toDecimal128(0, 4)')}), s.sale_amount) AS sale_amount,
        if(fixed, arrayConcat(${kept('s.sale_orders')}, arrayMap(n -> toUInt32(n), ${sum('arrayMap(n -> toInt64(n), s.sale_orders)', 4, 'toInt64(0)')})), s.sale_orders) AS sale_orders,
        arrayFilter((mo, n) -> n > 0, sale_month, sale_orders) AS active
      FROM (${rows}) AS s LEFT JOIN (${refundFixesSql(asOf)}) AS r ON r.customer_id = s.customer_id
    )
    WHERE NOT fixed OR notEmpty(active)`;
}

/**
 * Per customer with an order at or before `asOf` (`filter` applied): `customer_id` and `n`, their orders up to
 * asOf that no refund cancelled, among those whose UTC month satisfies `keep(m)`. Order counts
 * add up, so this is the state's entries in range minus the customer's cancelled orders in
 * range, joined as one number: no customer's arrays are rewritten, and only customers with a
 * cancellation in range are on the join's right side (customerStateSql('sales') costs about
 * three times as much at 10M purchases: docs/performance.md).
 */
export function orderCountsSql(asOf: string, filter: string | null, keep: (m: string) => string): string {
  const cancelled = `
    SELECT customer_id, countIf(${keep(monthOf('purchased_at'))}) AS c FROM (${refundedOrdersSql(asOf, 'auto')})
    WHERE cancelled GROUP BY customer_id HAVING c > 0`;
  return `
    SELECT s.customer_id AS customer_id, arrayCount(m -> ${keep('m')}, s.x) - r.c AS n
    FROM (${stateRowsSql('months', asOf, filter ?? 'true')}) AS s LEFT JOIN (${cancelled}) AS r ON r.customer_id = s.customer_id`;
}

/**
 * The stored state rows of the customers for which `cond` holds, with a purchase at or before
 * `asOf`, restricted to purchases up to asOf: `customer_id`, `first_at`, `last_unit` (the UTC
 * month, or the instant for `instants`, of their last purchase up to asOf) and the column
 * (customerStateSql's shapes; `x` one entry per purchase), refunds not applied.
 *
 * A customer whose last purchase is at or before asOf is read as stored. Only customers with
 * purchases after asOf (none when asOf is now) need more. Their instants are cut at asOf. Their
 * months before asOf's UTC month come from the state, and asOf's own month from the raw
 * purchases in [start of that month, asOf], found through the raw table's customer_id key and
 * joined to their state row. When no purchase is later than asOf, the `customer_id IN` set is
 * empty and key analysis drops every granule of the join's right side unread; a constant guard
 * such as `(SELECT max(last_at) …) > asOf` does not: the engine still reads the whole state for
 * it. `cond` appears once, on the one scan of the state: each appearance of a filter builds its
 * sets again, and reading the later customers in a branch of their own with the filter tripled
 * a filtered query's time (docs/performance.md).
 */
function stateRowsSql(column: 'months' | 'instants' | 'sales', asOf: string, cond: string): string {
  const stored = `SELECT customer_id, first_at, last_at, ${column} FROM ${T.activity} FINAL WHERE first_at <= ${asOf} AND ${cond}`;
  if (column === 'instants') {
    return `
      SELECT customer_id, first_at, if(last_at <= ${asOf}, last_at, arrayMax(x)) AS last_unit,
        if(last_at <= ${asOf}, instants, arrayFilter(t -> t <= ${asOf}, instants)) AS x
      FROM (${stored})`;
  }
  const asOfMonth = monthOf(asOf);
  const later = `customer_id IN (SELECT customer_id FROM ${T.activity} WHERE last_at > ${asOf}) AND occurred_at >= toDateTime64(toStartOfMonth(${asOf}), 3, 'UTC') AND occurred_at <= ${asOf}`;
  const months = column === 'months';
  // asOf's own month of the customers with purchases after asOf, from the raw purchases.
  const own = months
    ? `SELECT customer_id, arrayWithConstant(count(), ${asOfMonth}) AS x FROM ${T.purchases} WHERE ${later} GROUP BY customer_id`
    : `SELECT customer_id, groupArray(e) AS x FROM (
         SELECT customer_id, CAST((${asOfMonth}, toFixedString(toString(currency), 3), sum(toDecimal128(amount, 4)), toUInt32(count())), '${SALE}') AS e
         FROM ${T.purchases} WHERE ${later}
         GROUP BY customer_id, currency)
       GROUP BY customer_id`;
  const x = `if(s.last_at <= ${asOf}, s.${column}, arrayConcat(arrayFilter(e -> ${months ? 'e' : 'e.month'} < ${asOfMonth}, s.${column}), l.x))`;
  const last = `if(s.last_at <= ${asOf}, ${monthOf('s.last_at')}, arrayMax(${months ? 'x' : "tupleElement(x, 'month')"}))`;
  const columns = months
    ? 'x'
    : "tupleElement(x, 'month') AS sale_month, tupleElement(x, 'currency') AS sale_currency, " +
      "tupleElement(x, 'amount') AS sale_amount, tupleElement(x, 'orders') AS sale_orders";
  return `
    SELECT customer_id, first_at, last_unit, ${columns} FROM (
      SELECT s.customer_id AS customer_id, s.first_at AS first_at, ${x} AS x, ${last} AS last_unit
      FROM (${stored}) AS s
      LEFT JOIN (${own}) AS l ON l.customer_id = s.customer_id
    )`;
}
