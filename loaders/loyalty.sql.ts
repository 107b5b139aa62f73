// Loyalty program (spec section 14). Membership and tier at an instant are read from the raw
// loyalty events up to that instant, so a late event restates the past as of later asOf. The
// status builder is the one place that rule lives: loyaltyProgram, kpiSnapshot and the
// loyaltyMember / loyaltyTier filters (customer-filter.ts) all read it.
import type { SqlQuery } from '../server/storage/executor.js';
import { MAX_GROUPS } from './breakdown.sql.js';
import { firstPurchasesSql } from './cohort.sql.js';
import { customerFilterSql, type CustomerFilterArgs } from './customer-filter.js';
import { ledgerSql, within } from './refunds.sql.js';
import { Params, T, type Source } from './sql.js';

/** A validated loyaltyProgram window; kpiSnapshot passes `filter: null`. */
export interface LoyaltyWindow {
  from: Date;
  to: Date;
  asOf: Date;
  filter?: CustomerFilterArgs | null;
}

export interface LoyaltyProgramArgs extends LoyaltyWindow {
  currency: string;
}

/**
 * Each customer with a JOINED, LEFT or TIER_CHANGED event at or before `at` (a placeholder):
 * `customer_id`, `member` (UInt8) and `tier` (Nullable(String): null unless a member with a tier).
 *
 * A customer is a member when some JOINED up to `at` is later than every LEFT up to `at`: the
 * latest of those events is then a JOINED, and a LEFT at the same instant as a JOINED wins. The
 * membership began with the earliest of those JOINED events (a JOINED while already a member
 * begins nothing, so a tier set between the two still holds). The tier is that of the latest
 * TIER_CHANGED, or JOINED carrying a tier, at or after that beginning; two at the same instant
 * are ordered by eventId, so the answer never depends on storage order. `only`, a condition on
 * customer_id, is applied inside, on the table's key.
 */
export function loyaltyStatusSql(at: string, only?: string | null): string {
  return `
    SELECT customer_id, notEmpty(joins) AS member,
      arraySort(arrayFilter(x -> x.1 >= arrayMin(joins), tiers)) AS held,
      if(member AND notEmpty(held), held[-1].3, NULL) AS tier
    FROM (
      SELECT customer_id,
        groupArrayIf(occurred_at, action = 'LEFT') AS lefts,
        arrayFilter(j -> arrayAll(l -> j > l, lefts), groupArrayIf(occurred_at, action = 'JOINED')) AS joins,
        groupArrayIf((occurred_at, event_id, assumeNotNull(tier)), action IN ('JOINED', 'TIER_CHANGED') AND tier IS NOT NULL) AS tiers
      FROM ${T.loyalty}
      WHERE occurred_at <= ${at} AND action IN ('JOINED', 'LEFT', 'TIER_CHANGED')${only ? ` AND ${only}` : ''}
      GROUP BY customer_id
    )`;
}

/**
 * Each member's tier as of `asOf` (a placeholder): `customer_id`, `tier`, for the members that
 * hold one. The loyaltyTier filter reads it, and a LOYALTY_TIER breakdown can group by it.
 */
export function loyaltyTiersSql(asOf: string): string {
  // tier stays Nullable: an alias `tier` of assumeNotNull(tier) would be what WHERE reads.
  return `SELECT customer_id, tier FROM (${loyaltyStatusSql(asOf)}) WHERE tier IS NOT NULL`;
}

/** Members at `asOf` (a placeholder): `customer_id`. The loyaltyMember filter reads it. */
export function loyaltyMembersSql(asOf: string): string {
  return `SELECT customer_id FROM (${loyaltyStatusSql(asOf)}) WHERE member`;
}

/** e = min(to, asOf): the end of the window, and the instant membership and points are counted at. */
export function windowEnd(a: LoyaltyWindow): Date {
  return a.to.getTime() < a.asOf.getTime() ? a.to : a.asOf;
}

/**
 * The program's totals, one row: `members` at e; `joined` and `left_events` and
 * `points_earned`, `points_redeemed` in [from, e); `points_outstanding`, every point earned minus
 * every point redeemed at or before e. Counts and sums of integers, exact. loyaltyProgram and
 * kpiSnapshot both read it.
 */
export function loyaltyTotalsSql(a: LoyaltyWindow): SqlQuery {
  const p = new Params();
  const asOf = p.time(a.asOf, 'asOf');
  const end = p.time(windowEnd(a), 'end');
  const from = p.time(a.from, 'from');
  const filter = customerFilterSql(a.filter, asOf, p);
  const inWindow = `occurred_at >= ${from} AND occurred_at < ${end}`;
  const points = 'toInt64(ifNull(points, 0))';
  return p.sql(`
    SELECT
      (SELECT countIf(member) FROM (${loyaltyStatusSql(end, filter)})) AS members,
      countIf(action = 'JOINED' AND ${inWindow}) AS joined,
      countIf(action = 'LEFT' AND ${inWindow}) AS left_events,
      sumIf(${points}, action = 'POINTS_EARNED' AND ${inWindow}) AS points_earned,
      sumIf(${points}, action = 'POINTS_REDEEMED' AND ${inWindow}) AS points_redeemed,
      sumIf(${points}, action = 'POINTS_EARNED') - sumIf(${points}, action = 'POINTS_REDEEMED') AS points_outstanding
    FROM ${T.loyalty}
    WHERE occurred_at <= ${end}${filter ? ` AND ${filter}` : ''}`);
}

/**
 * Members against the others: the customers with an order (not cancelled as of asOf) before
 * `from`, those whose first order is (cohort.sql.ts: the customer state on 'auto'), split by
 * their status at `from` (at asOf when asOf is earlier: nothing after asOf
 * counts). One row per group (`kind` 'member' or 'other', `tier` null) and per tier held at
 * that instant (`kind` 'tier'), ordered by tier: `customers`, `active` (customers with an order
 * in [from, e)), `orders` in [from, e) in every currency, and their net `revenue` in `currency`
 * (orders minus the refunds of orders still standing, refunds.sql.ts) as exact Decimal text.
 */
export function loyaltyGroupsSql(a: LoyaltyProgramArgs, source: Source = 'auto'): SqlQuery {
  const p = new Params(source);
  const asOf = p.time(a.asOf, 'asOf');
  const end = p.time(windowEnd(a), 'end');
  const from = p.time(a.from, 'from');
  const split = p.time(a.from.getTime() < a.asOf.getTime() ? a.from : a.asOf, 'split');
  const currency = p.add('String', a.currency, 'currency');
  const filter = customerFilterSql(a.filter, asOf, p);
  // The per-customer columns are named apart from the figures: an alias would shadow the column it sums.
  // Each customer counts in their group and, as a member with a tier, in that tier: one pass
  // over the customers with two grouping keys each (ARRAY JOIN), rather than a UNION ALL that
  // would compute every customer twice. The status and the ledger are read whole: the
  // population is most customers, and a restriction to it would compute it again.
  return p.sql(`
    WITH
      population AS (SELECT customer_id FROM (${firstPurchasesSql(asOf, source)}) WHERE first_at < ${from}${filter ? ` AND ${filter}` : ''}),
      bought AS (
        SELECT customer_id, countIf(is_order = 1) AS orders, sumIf(amount, currency = ${currency}) AS revenue
        FROM (${ledgerSql(asOf, source, undefined, within(from, end))})
        GROUP BY customer_id
      )
    SELECT key.1 AS kind, key.2 AS tier, count() AS customers, countIf(window_orders > 0) AS active, sum(window_orders) AS orders,
      toString(sum(net_revenue)) AS revenue
    FROM (
      SELECT ifNull(s.member, 0) AS member, s.tier AS held_tier,
        ifNull(b.orders, 0) AS window_orders, ifNull(b.revenue, toDecimal128(0, 4)) AS net_revenue
      FROM population AS c
      LEFT JOIN (${loyaltyStatusSql(split)}) AS s ON s.customer_id = c.customer_id
      LEFT JOIN bought AS b ON b.customer_id = c.customer_id
    )
    ARRAY JOIN arrayConcat(
      [(if(member, 'member', 'other'), CAST(NULL, 'Nullable(String)'))],
      if(member AND held_tier IS NOT NULL, [('tier', held_tier)], [])
    ) AS key
    GROUP BY kind, tier
    ORDER BY kind, tier
    -- The two groups come first ('member' < 'other' < 'tier'); one tier past the limit is enough to refuse.
    LIMIT ${MAX_GROUPS + 3}`);
}
