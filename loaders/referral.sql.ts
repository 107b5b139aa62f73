import type { SqlQuery } from '../server/storage/executor.js';
import type { Window } from './args.js';
import { periodIndex, periodStart, type Grain } from './grain.js';
import { zoneParams } from './zone.js';
import { customerStateSql, monthOf, monthWindow } from './activity.sql.js';
import { firstPurchasesSql } from './cohort.sql.js';
import { ledgerSql, ordersSql, within } from './refunds.sql.js';
import { Params, T, windowList, type Source } from './sql.js';

export const DEFAULT_ATTRIBUTION_DAYS = 90;

/**
 * A referral's stages from its raw events, grouped as migrations/0011's view groups them: its
 * referred customer comes from the earliest event naming one (ties: the smaller id).
 */
const RAW_REFERRAL = `referral_id, min(occurred_at) AS started_at,
  max(stage IN ('CLICKED', 'SIGNED_UP')) AS clicked, max(stage = 'SIGNED_UP') AS signed_up,
  min((referred_customer_id IS NULL, occurred_at, ifNull(referred_customer_id, ''))) AS first_named,
  if(first_named.1, NULL, first_named.3) AS referred`;

/**
 * One row per referral as of `asOf` (`referral_id, started_at, clicked, signed_up, referred`),
 * only those started in [from, to) with `started`. From the state (migrations/0011), split by
 * `last_at` as customerStateSql splits customers: a referral with no event after asOf is read
 * as stored; the others (none when asOf is now; an empty IN set lets key analysis skip the
 * branch unread) are regrouped from their raw events up to asOf, found through the raw
 * table's referral_id key. The state saves grouping every referral event (docs/performance.md).
 * `referred` is read with tupleElement(): under FINAL its subcolumns (`referred.none`) skip the
 * merge, as `sales.month` does (tests/referral-state.test.ts fails with them).
 */
function referralsSql(asOf: string, source: Source, started?: { from: string; to: string }): string {
  const raw = (where: string) => `
    SELECT ${RAW_REFERRAL} FROM ${T.referrals} WHERE ${where} GROUP BY referral_id
    ${started ? `HAVING started_at >= ${started.from} AND started_at < ${started.to}` : ''}`;
  if (source === 'raw') return raw(`occurred_at <= ${asOf}`);
  return `
    SELECT referral_id, started_at, clicked, signed_up,
      if(tupleElement(referred, 'none'), NULL, tupleElement(referred, 'customer_id')) AS referred
    FROM ${T.referralState} FINAL
    WHERE last_at <= ${asOf}${started ? ` AND started_at >= ${started.from} AND started_at < ${started.to}` : ''}
    UNION ALL
    SELECT referral_id, started_at, clicked, signed_up, referred FROM (${raw(
      `referral_id IN (SELECT referral_id FROM ${T.referralState} WHERE last_at > ${asOf}) AND occurred_at <= ${asOf}`,
    )})`;
}

/**
 * One row per referral as of `asOf`: when it started (earliest event of any stage, whatever
 * the stage order in time), its stage flags, its referred customer and whether that
 * customer's first purchase ever fell in [started_at, started_at + window] — a customer who
 * bought before the referral is not a conversion.
 * The referrals are the join's build side (a RIGHT JOIN keeps every one of them), streamed
 * against every customer's first purchase: that beat building the table from the referred
 * customers' first purchases (an IN filter over all customers, then the join;
 * docs/performance.md). An unmatched referral has customer_id '' (ids are never empty) or
 * NULL when the enclosing query sets join_use_nulls; both mean "no purchase".
 *
 * With `started`, only referrals started in [from, to) are kept, and only customers whose
 * first purchase can convert one of them (in [from, to + window]) are streamed.
 */
export function referralOutcomesSql(asOf: string, windowDays: string, source: Source, started?: { from: string; to: string }): string {
  const window = `toIntervalSecond(${windowDays} * 86400)`;
  return `
    SELECT r.referral_id AS referral_id, r.started_at AS started_at, r.clicked AS clicked, r.signed_up AS signed_up,
           r.referred AS referred,
           ifNull(f.customer_id, '') != '' AND f.first_at >= r.started_at
             AND f.first_at <= r.started_at + ${window} AS converted,
           -- From millisecond timestamps: dateDiff('millisecond') needs a newer server than we support.
           if(converted, (toUnixTimestamp64Milli(f.first_at) - toUnixTimestamp64Milli(r.started_at)) / 86400000, NULL) AS days_to_convert
    FROM (
      SELECT * FROM (${firstPurchasesSql(asOf, source)})${started ? ` WHERE first_at >= ${started.from} AND first_at <= ${started.to} + ${window}` : ''}
    ) AS f
    RIGHT JOIN (${referralsSql(asOf, source, started)}) AS r ON f.customer_id = r.referred`;
}

/** Customers acquired by referral: the referred customer of a converted referral (default window). */
export function referredCustomersSql(asOf: string, p: Params): string {
  const windowDays = p.add('UInt32', DEFAULT_ATTRIBUTION_DAYS, 'referredWindowDays');
  return `SELECT DISTINCT referred FROM (${referralOutcomesSql(asOf, windowDays, p.source)}) WHERE converted`;
}

export interface ReferralCohortArgs {
  grain: Grain;
  from: Date;
  to: Date;
  attributionWindowDays: number;
  asOf: Date;
  timezone: string;
}

/**
 * Referrals grouped by the period of started_at, for periods starting in [from, to).
 * Output names differ from the outcome columns: a ClickHouse alias would shadow the column.
 * The median is exact: sorted days, mean of the two middle values (the same one twice for
 * an odd count); ClickHouse's `median` is a sampling estimate.
 */
export function referralCohortsSql(a: ReferralCohortArgs, source: Source = 'auto'): SqlQuery {
  const p = new Params(source);
  const zone = zoneParams(p, a.grain, a.timezone);
  const asOf = p.time(a.asOf, 'asOf');
  const windowDays = p.add('UInt32', a.attributionWindowDays, 'windowDays');
  return p.sql(`
    SELECT cohort_start, invited, clicks, signups, conversions,
           if(n = 0, NULL, (days[intDiv(n + 1, 2)] + days[intDiv(n + 2, 2)]) / 2) AS median_days
    FROM (
      SELECT start, toString(start) AS cohort_start, count() AS invited, countIf(clicked) AS clicks,
             countIf(signed_up) AS signups, countIf(converted) AS conversions,
             arraySort(groupArrayIf(days_to_convert, converted)) AS days, length(days) AS n
      FROM (
        SELECT *, ${periodStart(a.grain, periodIndex(a.grain, 'started_at', zone), zone)} AS start
        FROM (${referralOutcomesSql(asOf, windowDays, p.source)})
      )
      WHERE start >= ${p.time(a.from, 'from')} AND start < ${p.time(a.to, 'to')}
      GROUP BY start
    )
    ORDER BY start`);
}

export interface ReferralImpactArgs {
  from: Date;
  to: Date;
  currency: string;
  asOf: Date;
}

/**
 * Per window, the referrals started in it and, of those, converted (default window): a row
 * `w, started, converted` per window in which a referral started (`w` its 1-based position).
 * The outcomes are read once, for the span of all the windows.
 */
function startedInWindowsSql(asOf: string, windows: readonly Window[], p: Params): string {
  const w = windowList(windows, p);
  const windowDays = p.add('UInt32', DEFAULT_ATTRIBUTION_DAYS, 'windowDays');
  return `
    SELECT ${w.position('w')}, count() AS started, countIf(converted) AS converted
    FROM (${referralOutcomesSql(asOf, windowDays, p.source, { from: w.from, to: w.to })})
    ${w.join('started_at', 'w')}
    GROUP BY w`;
}

/**
 * The snapshot's referral conversion of each window (startedInWindowsSql), without
 * referralImpact's customer groups: one statement answers every window (a series' periods).
 */
export function referralConversionSql(a: { asOf: Date }, windows: readonly Window[], source: Source = 'auto'): SqlQuery {
  const p = new Params(source);
  return p.sql(`${startedInWindowsSql(p.time(a.asOf, 'asOf'), windows, p)} ORDER BY w`);
}

/**
 * One row: per group (customers whose first purchase ever is in [from, to), split by
 * referred), customers, repeat customers and exact revenue as text (a JSON number would
 * pass through a double); and the two ratios of the k-factor.
 */
export function referralImpactSql(a: ReferralImpactArgs, source: Source = 'auto'): SqlQuery {
  const p = new Params(source);
  const asOf = p.time(a.asOf, 'asOf');
  const from = p.time(a.from, 'from');
  const to = p.time(a.to, 'to');
  const currency = p.add('String', a.currency, 'currency');
  const active =
    source === 'auto' && monthWindow(a.from, a.to)
      ? `SELECT countIf(arrayExists(m -> m >= ${monthOf(from)} AND m < ${monthOf(to)}, x)) FROM (${customerStateSql('months', asOf, null)})`
      : `SELECT uniqExact(customer_id) FROM (${ordersSql(asOf, source, undefined, within(from, to))})`;
  const isReferred = `customer_id IN (${referredCustomersSql(asOf, p)}) AS is_referred`;
  const customers =
    source === 'auto' && monthWindow(a.from, a.to)
      ? `SELECT customer_id, arraySum(sale_orders) AS orders,
           arraySum(arrayFilter((amount, cur) -> cur = ${currency}, sale_amount, sale_currency)) AS revenue, ${isReferred}
         FROM (${customerStateSql('sales', asOf, null)})
         WHERE first_month >= ${monthOf(from)} AND first_month < ${monthOf(to)}`
      : `SELECT customer_id, countIf(is_order = 1) AS orders, sumIf(amount, currency = ${currency}) AS revenue, ${isReferred}
         FROM (${ledgerSql(asOf, source)})
         GROUP BY customer_id
         HAVING minIf(occurred_at, is_order = 1) >= ${from} AND minIf(occurred_at, is_order = 1) < ${to}`;
  return p.sql(`
    WITH (SELECT (sum(started), sum(converted)) FROM (${startedInWindowsSql(asOf, [a], p)})) AS started
    SELECT
      countIf(is_referred) AS referred_customers, countIf(is_referred AND orders >= 2) AS referred_repeat,
      toString(sumIf(revenue, is_referred)) AS referred_revenue,
      countIf(NOT is_referred) AS organic_customers, countIf(NOT is_referred AND orders >= 2) AS organic_repeat,
      toString(sumIf(revenue, NOT is_referred)) AS organic_revenue,
      (${active}) AS active_customers,
      started.1 AS referrals_started, started.2 AS referrals_converted
    FROM (${customers})`);
}
