import { UnreachableCaseError } from '../server/errors.js';
import { Grain } from './grain.js';
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

/** First purchase per customer as of `asOf`: a minimum over all purchases is at or before asOf exactly when any purchase is. */
export function firstPurchasesFromState(asOf: string): string {
  return `SELECT customer_id, first_at FROM ${T.activity} FINAL WHERE first_at <= ${asOf}`;
}

/**
 * One row per customer with a purchase at or before `asOf`, `filter` applied: `customer_id`,
 * `first_at`, `last_month` (the UTC month of their last purchase up to asOf) and `x`, the state
 * column `column` restricted to purchases up to asOf (`months` may repeat a month).
 *
 * A customer whose last purchase is at or before asOf is read as stored. Only customers with
 * purchases after asOf (none when asOf is now) need more: their months before asOf's UTC month
 * from the state, and asOf's own month from the raw purchases in [start of that month, asOf],
 * found through the raw table's customer_id key. The scalar guard lets the engine skip that
 * branch without reading when no purchase is later than asOf.
 */
export function customerStateSql(column: 'months' | 'sales', asOf: string, filter: string | null): string {
  const asOfMonth = monthOf(asOf);
  const monthStart = `toDateTime64(toStartOfMonth(${asOf}), 3, 'UTC')`;
  const and = filter ? ` AND ${filter}` : '';
  const later = `(SELECT max(last_at) FROM ${T.activity}) > ${asOf} AND customer_id IN (SELECT customer_id FROM ${T.activity} WHERE last_at > ${asOf}${and})`;
  const before = column === 'months' ? `arrayFilter(m -> m < ${asOfMonth}, months)` : `arrayFilter(s -> s.month < ${asOfMonth}, sales)`;
  const months = column === 'months' ? 'x' : 'arrayMap(s -> s.month, x)';
  const tail =
    column === 'months'
      ? `SELECT customer_id, min(occurred_at) AS first_at, [${asOfMonth}] AS x FROM ${T.purchases}
         WHERE ${later} AND occurred_at >= ${monthStart} AND occurred_at <= ${asOf}
         GROUP BY customer_id`
      : `SELECT customer_id, min(occurred_at) AS first_at,
           [CAST((${asOfMonth}, toFixedString(toString(currency), 3), sum(toDecimal128(amount, 4)), toUInt32(count())), '${SALE}')] AS x
         FROM ${T.purchases}
         WHERE ${later} AND occurred_at >= ${monthStart} AND occurred_at <= ${asOf}
         GROUP BY customer_id, currency`;
  return `
    SELECT customer_id, first_at, ${monthOf('last_at')} AS last_month, ${column} AS x FROM ${T.activity} FINAL
    WHERE first_at <= ${asOf} AND last_at <= ${asOf}${and}
    UNION ALL
    SELECT customer_id, first_at, arrayMax(${months}) AS last_month, x FROM (
      SELECT customer_id, min(first_at) AS first_at, groupArrayArray(x) AS x FROM (
        SELECT customer_id, first_at, ${before} AS x FROM ${T.activity} FINAL
        WHERE ${later} AND first_at <= ${asOf}
        UNION ALL
        ${tail}
      ) GROUP BY customer_id
    )`;
}
