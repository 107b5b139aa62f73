// Cohort membership: a customer's first purchase ever, and the cohort of each customer by the
// period that contains it. Every cohort KPI (retention, CLV) and the referral and customer
// queries anchor on these fragments.
import { firstPurchasesFromState, stateUnit } from './activity.sql.js';
import { withGroupKey, type Breakdown } from './breakdown.sql.js';
import { customerFilterSql, type CustomerFilterArgs } from './customer-filter.js';
import { Grain, periodIndex, periodStart } from './grain.js';
import { zoneParams } from './zone.js';
import { ordersSql } from './refunds.sql.js';
import { Params, type Source } from './sql.js';

/** First purchase ever per customer, as of `asOf`: the anchor of cohorts and conversions. Cancelled orders are not purchases (spec section 12). */
export function firstPurchasesSql(asOf: string, source: Source): string {
  if (source === 'auto') return firstPurchasesFromState(asOf);
  return `SELECT customer_id, min(occurred_at) AS first_at FROM (${ordersSql(asOf, source)}) GROUP BY customer_id`;
}

export interface CohortArgs {
  grain: Grain;
  from: Date;
  to: Date;
  periods: number;
  asOf: Date;
  timezone: string;
  filter?: CustomerFilterArgs | null;
  /** A breakdown: the builders add each customer's group `key` and group by it (breakdown.sql.ts). */
  by?: Breakdown | null;
}

/**
 * Shared pieces of every cohort KPI (retention, CLV): bound parameters, the period index of
 * an instant, the index range of periods starting in [from, to), the cohort members, and
 * `keyed`, which adds the breakdown's `key` to per-customer rows.
 */
export function cohortFragments(a: CohortArgs, p: Params) {
  const zone = zoneParams(p, a.grain, a.timezone);
  const asOf = p.time(a.asOf, 'asOf');
  const from = p.time(a.from, 'from');
  const to = p.time(a.to, 'to');
  const idx = (instant: string) => periodIndex(a.grain, instant, zone);
  const startOf = (index: string) => periodStart(a.grain, index, zone);
  // The first period starting at or after an instant: its own period when it starts exactly there.
  const ceilIdx = (instant: string) => `(${idx(instant)} + (${startOf(idx(instant))} < ${instant}))`;
  const filter = customerFilterSql(a.filter, asOf, p);
  const inCohorts = (c: string) => `${c} >= ${ceilIdx(from)} AND ${c} < ${ceilIdx(to)}`;
  const members = `
    SELECT customer_id, ${idx('first_at')} AS c
    FROM (${firstPurchasesSql(asOf, p.source)})
    WHERE ${inCohorts('c')}${filter ? ` AND ${filter}` : ''}`;
  // The pre-aggregated state: its UTC months or each purchase's second (activity.sql.ts, stateUnit).
  const unit = p.source === 'auto' ? stateUnit(a.grain, a.timezone) : null;
  const keyed = (rows: string) => withGroupKey(rows, a.by, asOf, p);
  return { zone, asOf, from, to, idx, startOf, ceilIdx, filter, inCohorts, members, keyed, unit, source: p.source };
}
