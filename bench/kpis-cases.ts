/**
 * What `npm run bench -- kpis` measures: each KPI through GraphQL, and the plain SQL a user
 * would write for the same figures over the raw tables (no pre-aggregates), with both results
 * brought to one shape so the run can check they agree.
 */
import type { SqlQuery } from '../server/storage/executor.js';

export const BENCH_DATABASE = 'bench';

/**
 * 36 monthly cohorts; a 12-month window for the window KPIs; asOf = the end of the generated
 * data. Purchases and survey responses all lie before it; a few referral events (an hour
 * after their invitation) do not, so the referral baselines filter on asOf too.
 */
export const COHORTS = { from: '2023-11-01T00:00:00Z', to: '2026-11-01T00:00:00Z' };
export const WINDOW = { from: '2025-11-01T00:00:00Z', to: '2026-11-01T00:00:00Z' };
export const AS_OF = '2026-11-01T00:00:00Z';
/** 104 weekly cohorts (Mondays, UTC) and 90 days up to AS_OF: issue 17's weekly cohorts and DAY retention. */
export const WEEKS = { from: '2024-11-04T00:00:00Z', to: '2026-11-02T00:00:00Z' };
export const DAYS = { from: '2026-08-03T00:00:00Z', to: '2026-11-01T00:00:00Z' };
/** WINDOW's twelve months in Asia/Kathmandu (+05:45): local midnights of 2025-11-01 and 2026-11-01. */
export const KATHMANDU_WINDOW = { from: '2025-10-31T18:15:00Z', to: '2026-10-31T18:15:00Z' };

const chTime = (iso: string) => iso.replace('T', ' ').replace('Z', '');
const params = {
  cfrom: chTime(COHORTS.from),
  cto: chTime(COHORTS.to),
  wfrom: chTime(WINDOW.from),
  wto: chTime(WINDOW.to),
  kfrom: chTime(WEEKS.from),
  kto: chTime(WEEKS.to),
  dfrom: chTime(DAYS.from),
  dto: chTime(DAYS.to),
  zfrom: chTime(KATHMANDU_WINDOW.from),
  zto: chTime(KATHMANDU_WINDOW.to),
  nyc: 'America/New_York',
  ktm: 'Asia/Kathmandu',
  asOf: chTime(AS_OF),
};

/** The plain SQL's calendar per grain: a period's start, the next one's, and the unit of dateDiff. */
const CALENDAR = {
  month: { start: 'toStartOfMonth', next: (d: string) => `addMonths(${d}, 1)`, before: (d: string) => `addMonths(${d}, -1)` },
  week: { start: 'toMonday', next: (d: string) => `addWeeks(${d}, 1)`, before: (d: string) => `addWeeks(${d}, -1)` },
  day: { start: 'toDate', next: (d: string) => `addDays(${d}, 1)`, before: (d: string) => `addDays(${d}, -1)` },
} as const;
type Unit = keyof typeof CALENDAR;
/** A zone's bound parameter (none: UTC), and an instant column as that zone's wall clock. */
type Zone = 'nyc' | 'ktm' | null;
const local = (column: string, zone: Zone) => (zone ? `toTimeZone(${column}, {${zone}:String})` : column);
const P = '{db:Identifier}.purchases';
const sql = (query: string): SqlQuery => ({ query, query_params: params });
const T = "DateTime64(3, 'UTC')";

// Spec section 12 written out over the raw tables, as of asOf (only events at or before it exist).
/** Purchases with their order key: orderId, else eventId. */
const PA = `(SELECT event_id, customer_id, occurred_at, amount, toString(currency) AS currency, ifNull(order_id, event_id) AS order_key
  FROM ${P} WHERE occurred_at <= {asOf:${T}})`;
const RA = `(SELECT customer_id, toString(currency) AS currency, order_id, occurred_at, amount
  FROM {db:Identifier}.refunds WHERE occurred_at <= {asOf:${T}})`;
/** Every refund with the purchase it belongs to: of the customer's purchases in its currency with its order key, the earliest (then the smallest eventId). */
const OWNED = `(
  SELECT r.customer_id AS customer_id, r.currency AS currency, r.occurred_at AS occurred_at, r.amount AS amount,
    o.event_id AS order_event_id, o.amount AS order_amount
  FROM ${RA} AS r
  INNER JOIN (SELECT * FROM ${PA} WHERE (customer_id, currency, order_key) IN (SELECT customer_id, currency, order_id FROM ${RA})
              ORDER BY occurred_at, event_id LIMIT 1 BY customer_id, currency, order_key) AS o
    ON o.customer_id = r.customer_id AND o.currency = r.currency AND o.order_key = r.order_id)`;
/** Purchases whose refunds add up to at least their amount. */
const CANCELLED = `(SELECT order_event_id FROM ${OWNED} GROUP BY order_event_id, order_amount HAVING sum(amount) >= order_amount)`;
/** The orders: purchases that are not cancelled. */
const ORDERS = `(SELECT * FROM ${PA} WHERE event_id NOT IN ${CANCELLED})`;
/** The refunds that subtract from revenue, at their own time: those of orders that are not cancelled. */
const NET_REFUNDS = `(SELECT * FROM ${OWNED} WHERE order_event_id NOT IN ${CANCELLED})`;
/** Revenue entries: each order (+amount, is_order 1) and each refund of an order (-amount, is_order 0). */
const LEDGER = `(SELECT customer_id, occurred_at, amount, currency, toUInt8(1) AS is_order FROM ${ORDERS}
  UNION ALL SELECT customer_id, occurred_at, -amount AS amount, currency, toUInt8(0) AS is_order FROM ${NET_REFUNDS})`;

/**
 * The issue's query, verbatim but for the bound window and orders in place of purchases; by
 * channel, each customer's channel from their latest profile version as of asOf (NULL without
 * one) is one more key (ORDER BY puts NULL last).
 */
const cohortSql = (byChannel: boolean, unit: 'month' | 'week' = 'month', range: 'c' | 'k' = 'c', zone: Zone = null) =>
  sql(`
  WITH f AS (SELECT customer_id, ${CALENDAR[unit].start}(${local('min(occurred_at)', zone)}) AS cohort FROM ${ORDERS} GROUP BY customer_id),
       a AS (SELECT DISTINCT customer_id, ${CALENDAR[unit].start}(${local('occurred_at', zone)}) AS m FROM ${ORDERS})${
         byChannel
           ? `,
       ch AS (SELECT customer_id, argMax(tuple(channel), (occurred_at, received_seq)).1 AS channel
              FROM {db:Identifier}.customers WHERE occurred_at <= {asOf:${T}} GROUP BY customer_id)`
           : ''
       }
  SELECT ${byChannel ? 'channel, ' : ''}toString(cohort) AS cohort_start, dateDiff('${unit}', cohort, m) AS k, uniqExact(customer_id) AS n
  FROM a INNER JOIN f USING customer_id${byChannel ? ' LEFT JOIN ch USING customer_id' : ''}
  WHERE cohort >= toDate({${range}from:${T}}) AND cohort < toDate({${range}to:${T}}) AND k <= 12
  GROUP BY ${byChannel ? 'channel, ' : ''}cohort, k ORDER BY ${byChannel ? 'channel, ' : ''}cohort, k`);

/**
 * Per period of the window `w` (WINDOW), `c` (COHORTS), `d` (DAYS) or `z` (KATHMANDU_WINDOW):
 * customers active the period before, and of those active in it; in `zone`, the window's ends
 * are that zone's period starts.
 */
const periodRetentionSql = (w: 'w' | 'c' | 'd' | 'z', unit: Unit = 'month', zone: Zone = null) =>
  sql(`
  WITH a AS (SELECT DISTINCT customer_id, ${CALENDAR[unit].start}(${local('occurred_at', zone)}) AS m FROM ${ORDERS}
             WHERE occurred_at >= ${CALENDAR[unit].before(`{${w}from:${T}}`)} AND occurred_at < {${w}to:${T}})
  SELECT toString(m) AS period, count() AS previous, sum(retained) AS retained
  FROM (SELECT customer_id, ${CALENDAR[unit].next('m')} AS m FROM a) AS prev
  LEFT JOIN (SELECT customer_id, m, 1 AS retained FROM a) AS cur USING (customer_id, m)
  WHERE m >= toDate(${local(`{${w}from:${T}}`, zone)}) AND m < toDate(${local(`{${w}to:${T}}`, zone)})
  GROUP BY m ORDER BY m`);

const repeatSql = sql(`
  SELECT count() AS customers, countIf(n >= 2) AS repeat_customers, sum(n) AS orders
  FROM (SELECT customer_id, count() AS n FROM ${ORDERS} WHERE occurred_at >= {wfrom:${T}} AND occurred_at < {wto:${T}} GROUP BY customer_id)`);

/** Cohort sizes (k = -1) and USD net revenue per cohort and offset (a refund at its own month). */
const clvCohortSql = sql(`
  WITH f AS (SELECT customer_id, toStartOfMonth(min(occurred_at)) AS cohort FROM ${ORDERS} GROUP BY customer_id)
  SELECT toString(cohort) AS cohort_start, k, toString(revenue) AS revenue_text FROM (
    SELECT cohort, -1 AS k, toDecimal128(count(), 4) AS revenue FROM f
    WHERE cohort >= toDate({cfrom:${T}}) AND cohort < toDate({cto:${T}}) GROUP BY cohort
    UNION ALL
    SELECT cohort, dateDiff('month', cohort, toStartOfMonth(occurred_at)) AS k, sum(amount) AS revenue
    FROM ${LEDGER} AS l INNER JOIN f USING customer_id
    WHERE currency = 'USD' AND cohort >= toDate({cfrom:${T}}) AND cohort < toDate({cto:${T}}) AND k <= 12
    GROUP BY cohort, k HAVING revenue != 0)
  ORDER BY cohort_start, k`);

/** USD net revenue, orders, customers with an order and their (customer, month) pairs of the window `w` (WINDOW) or `c` (COHORTS). */
const clvSummarySql = (w: 'w' | 'c') =>
  sql(`
  SELECT toString(sum(amount)) AS revenue, countIf(is_order = 1) AS orders, uniqExactIf(customer_id, is_order = 1) AS customers,
    uniqExactIf(customer_id, toStartOfMonth(occurred_at), is_order = 1) AS active_customer_periods
  FROM ${LEDGER} WHERE currency = 'USD' AND occurred_at >= {${w}from:${T}} AND occurred_at < {${w}to:${T}}`);

const voiceSql = (kind: 'NPS' | 'CSAT', series: boolean) =>
  sql(`
  SELECT ${series ? 'toString(toStartOfMonth(occurred_at)) AS m, ' : ''}count() AS responses,
    countIf(score >= ${kind === 'NPS' ? 9 : 4}) AS good, countIf(score <= 6) AS detractors
  FROM {db:Identifier}.survey_responses
  WHERE kind = '${kind}' AND occurred_at >= {wfrom:${T}} AND occurred_at < {wto:${T}}
  ${series ? 'GROUP BY m ORDER BY m' : ''}`);

const referralSql = (by: 'month' | 'window') =>
  sql(`
  WITH f AS (SELECT customer_id, min(occurred_at) AS first_at FROM ${ORDERS} GROUP BY customer_id),
       r AS (SELECT referral_id, min(occurred_at) AS started, max(stage IN ('CLICKED', 'SIGNED_UP')) AS clicked,
                    max(stage = 'SIGNED_UP') AS signed_up, any(referred_customer_id) AS referred
             FROM {db:Identifier}.referrals WHERE occurred_at <= {asOf:${T}} GROUP BY referral_id)
  SELECT ${by === 'month' ? 'toString(toStartOfMonth(started)) AS m, ' : ''}count() AS invited, sum(clicked) AS clicked,
    sum(signed_up) AS signed_up, countIf(conv) AS converted,
    ${by === 'month' ? 'quantileExactInclusiveIf(0.5)(days, conv) AS median_days' : '1 AS _'}
  FROM (
    SELECT r.started AS started, r.clicked AS clicked, r.signed_up AS signed_up,
      f.customer_id != '' AND f.first_at >= r.started AND f.first_at <= r.started + INTERVAL 90 DAY AS conv,
      (toUnixTimestamp64Milli(f.first_at) - toUnixTimestamp64Milli(r.started)) / 86400000 AS days
    FROM r LEFT JOIN f ON f.customer_id = r.referred)
  WHERE ${by === 'month' ? `started >= {cfrom:${T}} AND started < {cto:${T}} GROUP BY m ORDER BY m` : `started >= {wfrom:${T}} AND started < {wto:${T}}`}`);

const newCustomersSql = sql(`
  SELECT count() AS n FROM (SELECT min(occurred_at) AS first_at FROM ${ORDERS} GROUP BY customer_id)
  WHERE first_at >= {wfrom:${T}} AND first_at < {wto:${T}}`);

/** USD refunds of orders not cancelled in the window, and purchases in it (every currency) that are cancelled. */
const refundSummarySql = sql(`
  SELECT (SELECT toString(sum(amount)) FROM ${NET_REFUNDS} WHERE currency = 'USD' AND occurred_at >= {wfrom:${T}} AND occurred_at < {wto:${T}}) AS refund_amount,
    (SELECT count() FROM ${PA} WHERE event_id IN ${CANCELLED} AND occurred_at >= {wfrom:${T}} AND occurred_at < {wto:${T}}) AS cancelled_orders`);

// Spec section 14 over the raw loyalty events: e = min(to, asOf) = WINDOW.to here.
const L = `(SELECT * FROM {db:Identifier}.loyalty_events WHERE occurred_at <= {asOf:${T}})`;
/** Each customer's membership and tier at the instant {at}: the latest JOINED or LEFT (LEFT on a tie), and the latest tier event since that JOINED. */
const membershipAt = (at: string) => `(
  SELECT customer_id, joined_at, argMaxIf(tier, occurred_at, tier IS NOT NULL AND occurred_at >= joined_at) AS tier
  FROM (SELECT customer_id, occurred_at, tier,
          argMaxIf(action, (occurred_at, action = 'LEFT'), action IN ('JOINED', 'LEFT')) OVER (PARTITION BY customer_id) AS last,
          maxIf(occurred_at, action = 'JOINED') OVER (PARTITION BY customer_id) AS joined_at
        FROM ${L} WHERE occurred_at <= {${at}:${T}})
  WHERE last = 'JOINED' GROUP BY customer_id, joined_at)`;
/** Per customer with an order before the window: membership and tier at its start, and orders and USD net revenue in it. */
const loyaltyGroups = sql(`
  WITH m AS ${membershipAt('wfrom')},
       o AS (SELECT customer_id, countIf(is_order = 1 AND occurred_at >= {wfrom:${T}} AND occurred_at < {wto:${T}}) AS n,
                    sumIf(amount, currency = 'USD' AND occurred_at >= {wfrom:${T}} AND occurred_at < {wto:${T}}) AS usd
             FROM ${LEDGER} GROUP BY customer_id HAVING countIf(is_order = 1 AND occurred_at < {wfrom:${T}}) > 0)
  SELECT multiIf(grp = 0, 'member', grp = 1, 'non-member', tier) AS key, count() AS customers, countIf(n > 0) AS active, sum(n) AS orders,
    toString(sum(usd)) AS revenue
  FROM (SELECT o.*, m.customer_id != '' AS member, m.tier AS tier FROM o LEFT JOIN m USING customer_id)
  ARRAY JOIN if(member, if(tier IS NULL, [0], [0, 2]), [1]) AS grp
  GROUP BY grp, key ORDER BY grp, key`);
const loyaltyTotals = sql(`
  SELECT (SELECT count() FROM ${membershipAt('wto')}) AS members,
    countIf(action = 'JOINED' AND occurred_at >= {wfrom:${T}} AND occurred_at < {wto:${T}}) AS joined,
    countIf(action = 'LEFT' AND occurred_at >= {wfrom:${T}} AND occurred_at < {wto:${T}}) AS left,
    sumIf(points, action = 'POINTS_EARNED' AND occurred_at >= {wfrom:${T}} AND occurred_at < {wto:${T}}) AS earned,
    sumIf(points, action = 'POINTS_REDEEMED' AND occurred_at >= {wfrom:${T}} AND occurred_at < {wto:${T}}) AS redeemed,
    toInt64(sumIf(points, action = 'POINTS_EARNED')) - toInt64(sumIf(points, action = 'POINTS_REDEEMED')) AS outstanding
  FROM ${L} WHERE occurred_at <= {wto:${T}}`);

// Spec section 15 over the raw touches: one campaign, assignments in the window, a 30-day window.
export const CAMPAIGN = 'campaign-3';
const followUpSql = sql(`
  WITH a AS (SELECT customer_id, argMin(tuple(occurred_at, stage), (occurred_at, stage != 'SENT')) AS first,
                    first.1 AS t0, first.2 = 'SENT' AS treated
             FROM {db:Identifier}.touches WHERE campaign = '${CAMPAIGN}' AND stage IN ('SENT', 'HELD_OUT') AND occurred_at <= {asOf:${T}}
             GROUP BY customer_id HAVING t0 >= {wfrom:${T}} AND t0 < {wto:${T}}),
       measured AS (SELECT * FROM a WHERE t0 + INTERVAL 30 DAY <= {asOf:${T}}),
       seen AS (SELECT customer_id, maxIf(1, stage = 'OPENED' AND occurred_at >= t0) AS opened, maxIf(1, stage = 'CLICKED' AND occurred_at >= t0) AS clicked
                FROM {db:Identifier}.touches INNER JOIN measured USING customer_id
                WHERE campaign = '${CAMPAIGN}' AND occurred_at <= {asOf:${T}} GROUP BY customer_id),
       bought AS (SELECT customer_id, countIf(is_order = 1) AS orders, sumIf(amount, currency = 'USD') AS revenue
                  FROM ${LEDGER} AS l INNER JOIN measured USING customer_id
                  WHERE l.occurred_at > t0 AND l.occurred_at <= t0 + INTERVAL 30 DAY GROUP BY customer_id)
  SELECT treated, count() AS customers, sum(seen.opened) AS opened, sum(seen.clicked) AS clicked, countIf(bought.orders > 0) AS converted,
    sum(bought.orders) AS orders, toString(sum(bought.revenue)) AS revenue, (SELECT count() FROM a) - (SELECT count() FROM measured) AS pending
  FROM measured LEFT JOIN seen USING customer_id LEFT JOIN bought USING customer_id
  GROUP BY treated ORDER BY treated DESC`);

/** Per case, the plain SQL statements that together give what the GraphQL field returns. */
export const BASELINES: Record<string, SqlQuery[]> = {
  retentionCohorts: [cohortSql(false)],
  retentionCohortsBy: [cohortSql(true)],
  'retentionCohorts (WEEK)': [cohortSql(false, 'week', 'k')],
  'retentionCohorts (America/New_York)': [cohortSql(false, 'month', 'c', 'nyc')],
  retentionRate: [periodRetentionSql('w')],
  'retentionRate (DAY)': [periodRetentionSql('d', 'day')],
  'retentionRate (Asia/Kathmandu)': [periodRetentionSql('z', 'month', 'ktm')],
  repeatPurchaseRate: [repeatSql],
  // customerLifetimeValue's from/to bound its cohorts, its summary and its churn alike.
  customerLifetimeValue: [clvCohortSql, clvSummarySql('c'), periodRetentionSql('c')],
  nps: [voiceSql('NPS', true)],
  referralConversionCohorts: [referralSql('month')],
  loyaltyProgram: [loyaltyTotals, loyaltyGroups],
  followUpImpact: [followUpSql],
  kpiSnapshot: [repeatSql, newCustomersSql, clvSummarySql('w'), periodRetentionSql('w'), voiceSql('NPS', false), voiceSql('CSAT', false), referralSql('window'), refundSummarySql],
};

type Rows = Record<string, any>[];
type Data = Record<string, any>;

/** Retained over previous customers across all periods, as the service pools them. */
const pooledRate = (rows: Rows) => rows.reduce((n, r) => n + Number(r.retained), 0) / rows.reduce((n, r) => n + Number(r.previous), 0);

export interface Case {
  name: string;
  query: string;
  /** p50 target in ms, and the least speed-up over the baseline the issue asks for (if any). */
  targetMs: number;
  minRatio?: number;
  /** A p50 under `factor` times another case's p50 (a breakdown against its one KPI). */
  relativeTo?: { name: string; factor: number };
  /** The figures both sides must agree on, from the GraphQL data and from the baseline rows. */
  fromGraphql(data: Data): unknown;
  fromBaseline(rows: Rows[]): unknown;
}

const win = `from: "${WINDOW.from}", to: "${WINDOW.to}", asOf: "${AS_OF}"`;
const coh = `from: "${COHORTS.from}", to: "${COHORTS.to}", asOf: "${AS_OF}"`;
const day = (iso: string) => iso.slice(0, 10);
/** Money compared to the cent: the service divides and multiplies revenue per customer in floating point. */
const cents = (x: number) => Math.round(x * 100);

/** retentionCohorts' cells with retained customers, as (cohort start day, offset, retained): cohortSql's rows. */
const COHORT_CELLS: Pick<Case, 'fromGraphql' | 'fromBaseline'> = {
  fromGraphql: (d) =>
    d.retentionCohorts.cohorts.flatMap((c: Data) => c.cells.filter((x: Data) => x.retained > 0).map((x: Data) => [day(c.cohortStart), x.offset, x.retained])),
  fromBaseline: ([rows]) => rows!.map((r) => [r.cohort_start, r.k, r.n]),
};

export const CASES: Case[] = [
  {
    name: 'retentionCohorts',
    query: `{ retentionCohorts(grain: MONTH, ${coh}, periods: 12) { cohorts { cohortStart size cells { offset retained retainedOrLater rate } } } }`,
    targetMs: 250,
    minRatio: 10,
    ...COHORT_CELLS,
  },
  {
    // One pass for every group: under twice one retentionCohorts (issue 18, docs/performance.md).
    name: 'retentionCohortsBy',
    query: `{ retentionCohortsBy(by: CHANNEL, grain: MONTH, ${coh}, periods: 12) { key value { cohorts { cohortStart size cells { offset retained retainedOrLater rate } } } } }`,
    targetMs: 500,
    relativeTo: { name: 'retentionCohorts', factor: 2 },
    fromGraphql: (d) =>
      d.retentionCohortsBy.flatMap((g: Data) =>
        g.value.cohorts.flatMap((c: Data) => c.cells.filter((x: Data) => x.retained > 0).map((x: Data) => [g.key, day(c.cohortStart), x.offset, x.retained])),
      ),
    fromBaseline: ([rows]) => rows!.map((r) => [r.channel, r.cohort_start, r.k, r.n]),
  },
  {
    // Issue 17: 104 weekly cohorts x 12 from the state's instants.
    name: 'retentionCohorts (WEEK)',
    query: `{ retentionCohorts(grain: WEEK, from: "${WEEKS.from}", to: "${WEEKS.to}", asOf: "${AS_OF}", periods: 12) { cohorts { cohortStart size cells { offset retained } } } }`,
    targetMs: 300,
    minRatio: 10,
    ...COHORT_CELLS,
  },
  {
    // Issue 17: monthly cohorts in a zone with daylight saving, from the state's instants. NY's
    // local midnights are the same dates in UTC, so cohort starts compare by their UTC day.
    name: 'retentionCohorts (America/New_York)',
    query: `{ retentionCohorts(grain: MONTH, ${coh}, periods: 12, timezone: "America/New_York") { cohorts { cohortStart size cells { offset retained } } } }`,
    targetMs: 300,
    ...COHORT_CELLS,
  },
  {
    name: 'retentionRate',
    query: `{ retentionRate(grain: MONTH, ${win}) { periodStart previousCustomers retainedCustomers rate } }`,
    targetMs: 300,
    fromGraphql: (d) => d.retentionRate.map((x: Data) => [day(x.periodStart), x.previousCustomers, x.retainedCustomers]),
    fromBaseline: ([rows]) => rows!.map((r) => [r.period, r.previous, r.retained]),
  },
  {
    // Issue 17: DAY retention over 90 days, from the state's instants.
    name: 'retentionRate (DAY)',
    query: `{ retentionRate(grain: DAY, from: "${DAYS.from}", to: "${DAYS.to}", asOf: "${AS_OF}") { periodStart previousCustomers retainedCustomers rate } }`,
    targetMs: 300,
    fromGraphql: (d) => d.retentionRate.filter((x: Data) => x.previousCustomers > 0).map((x: Data) => [day(x.periodStart), x.previousCustomers, x.retainedCustomers]),
    fromBaseline: ([rows]) => rows!.map((r) => [r.period, r.previous, r.retained]),
  },
  {
    // Issue 17: monthly retention at an odd offset (+05:45), from the state's instants. A local
    // midnight is 18:15 UTC the day before: its local date is 5 h 45 min later.
    name: 'retentionRate (Asia/Kathmandu)',
    query: `{ retentionRate(grain: MONTH, from: "${KATHMANDU_WINDOW.from}", to: "${KATHMANDU_WINDOW.to}", asOf: "${AS_OF}", timezone: "Asia/Kathmandu") {
        periodStart previousCustomers retainedCustomers rate } }`,
    targetMs: 300,
    fromGraphql: (d) =>
      d.retentionRate.map((x: Data) => [day(new Date(Date.parse(x.periodStart) + 345 * 60_000).toISOString()), x.previousCustomers, x.retainedCustomers]),
    fromBaseline: ([rows]) => rows!.map((r) => [r.period, r.previous, r.retained]),
  },
  {
    name: 'repeatPurchaseRate',
    query: `{ repeatPurchaseRate(${win}) { customers repeatCustomers orders rate } }`,
    targetMs: 300,
    fromGraphql: (d) => [d.repeatPurchaseRate.customers, d.repeatPurchaseRate.repeatCustomers, d.repeatPurchaseRate.orders],
    fromBaseline: ([rows]) => [rows![0]!.customers, rows![0]!.repeat_customers, rows![0]!.orders],
  },
  {
    name: 'customerLifetimeValue',
    query: `{ customerLifetimeValue(grain: MONTH, ${coh}, periods: 12, currency: "USD") {
        revenue orders customers activeCustomerPeriods churnRate clv cohorts { cohortStart size cells { offset revenue cumulativeRevenuePerCustomer } } } }`,
    targetMs: 400,
    minRatio: 5,
    fromGraphql: (d) => [
      ...d.customerLifetimeValue.cohorts.flatMap((c: Data) => [[day(c.cohortStart), -1, c.size], ...c.cells.filter((x: Data) => x.revenue !== 0).map((x: Data) => [day(c.cohortStart), x.offset, x.revenue])]),
      ['summary', d.customerLifetimeValue.revenue, d.customerLifetimeValue.orders, d.customerLifetimeValue.customers, d.customerLifetimeValue.activeCustomerPeriods],
      ['churn', d.customerLifetimeValue.churnRate],
    ],
    fromBaseline: ([cohorts, summary, retention]) => [
      ...cohorts!.map((r) => [r.cohort_start, r.k, Number(r.revenue_text)]),
      ['summary', Number(summary![0]!.revenue), summary![0]!.orders, summary![0]!.customers, summary![0]!.active_customer_periods],
      ['churn', 1 - pooledRate(retention!)],
    ],
  },
  {
    name: 'nps',
    query: `{ nps(grain: MONTH, ${win}) { responses score series { periodStart responses promoters detractors } } }`,
    targetMs: 200,
    fromGraphql: (d) => d.nps.series.map((x: Data) => [day(x.periodStart), x.responses, x.promoters, x.detractors]),
    fromBaseline: ([rows]) => rows!.map((r) => [r.m, r.responses, r.good, r.detractors]),
  },
  {
    name: 'referralConversionCohorts',
    query: `{ referralConversionCohorts(grain: MONTH, ${coh}) { cohortStart invited clicked signedUp converted medianDaysToConvert } }`,
    targetMs: 200,
    fromGraphql: (d) => d.referralConversionCohorts.map((x: Data) => [day(x.cohortStart), x.invited, x.clicked, x.signedUp, x.converted]),
    fromBaseline: ([rows]) => rows!.map((r) => [r.m, r.invited, r.clicked, r.signed_up, r.converted]),
  },
  {
    name: 'loyaltyProgram',
    query: `{ loyaltyProgram(${win}, currency: "USD") {
        members joined left pointsEarned pointsRedeemed pointsOutstanding
        memberGroup { customers activeCustomers orders revenuePerCustomer } nonMemberGroup { customers activeCustomers orders revenuePerCustomer }
        tiers { tier customers activeCustomers orders revenuePerCustomer } } }`,
    targetMs: 300,
    fromGraphql: (d) => {
      const l = d.loyaltyProgram;
      const group = (key: string, g: Data) => [key, g.customers, g.activeCustomers, g.orders, cents(g.revenuePerCustomer * g.customers)];
      return [
        [l.members, l.joined, l.left, l.pointsEarned, l.pointsRedeemed, l.pointsOutstanding],
        group('member', l.memberGroup),
        group('non-member', l.nonMemberGroup),
        ...l.tiers.map((t: Data) => group(t.tier, t)),
      ];
    },
    fromBaseline: ([totals, groups]) => {
      const t = totals![0]!;
      return [
        [t.members, t.joined, t.left, Number(t.earned), Number(t.redeemed), Number(t.outstanding)],
        ...groups!.map((g) => [g.key, g.customers, g.active, Number(g.orders), cents(Number(g.revenue))]),
      ];
    },
  },
  {
    name: 'followUpImpact',
    query: `{ followUpImpact(campaign: "${CAMPAIGN}", ${win}, currency: "USD") {
        pending treated { customers opened clicked converted orders revenue } control { customers opened clicked converted orders revenue } } }`,
    targetMs: 300,
    fromGraphql: (d) => {
      const f = d.followUpImpact;
      const group = (g: Data) => [g.customers, g.opened, g.clicked, g.converted, g.orders, cents(g.revenue)];
      return [f.pending, group(f.treated), group(f.control)];
    },
    fromBaseline: ([rows]) => [
      rows![0]!.pending,
      ...rows!.map((g) => [g.customers, Number(g.opened), Number(g.clicked), g.converted, Number(g.orders), cents(Number(g.revenue))]),
    ],
  },
  {
    name: 'kpiSnapshot',
    query: `{ kpiSnapshot(${win}, grain: MONTH, currency: "USD") {
        customers newCustomers orders repeatPurchaseRate revenue averageOrderValue clv retentionRate nps csat referralConversionRate refundAmount cancelledOrders } }`,
    targetMs: 800,
    fromGraphql: (d) => [
      d.kpiSnapshot.customers, d.kpiSnapshot.newCustomers, d.kpiSnapshot.orders, d.kpiSnapshot.revenue, d.kpiSnapshot.retentionRate,
      d.kpiSnapshot.refundAmount, d.kpiSnapshot.cancelledOrders,
    ],
    fromBaseline: ([repeat, fresh, summary, retention, , , , refunds]) => [
      repeat![0]!.customers,
      fresh![0]!.n,
      repeat![0]!.orders,
      Number(summary![0]!.revenue),
      pooledRate(retention!),
      Number(refunds![0]!.refund_amount),
      refunds![0]!.cancelled_orders,
    ],
  },
];
