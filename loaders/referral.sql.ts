import { Params, T } from './sql.js';

export const DEFAULT_ATTRIBUTION_DAYS = 90;

/** First purchase ever per customer, as of `asOf`: the anchor of cohorts and conversions. */
export function firstPurchasesSql(asOf: string): string {
  return `SELECT customer_id, min(occurred_at) AS first_at FROM ${T.purchases} WHERE occurred_at <= ${asOf} GROUP BY customer_id`;
}

/**
 * One row per referral as of `asOf`: when it started (earliest event of any stage), its
 * furthest stage flags, its referred customer (from the earliest event naming one) and
 * whether that customer's first purchase ever fell in [started_at, started_at + window].
 * An unmatched LEFT JOIN row has customer_id '' (ids are never empty), which marks "no purchase".
 */
export function referralOutcomesSql(asOf: string, windowDays: string): string {
  return `
    SELECT r.referral_id AS referral_id, r.started_at AS started_at, r.clicked AS clicked, r.signed_up AS signed_up,
           r.referred AS referred,
           f.customer_id != '' AND f.first_at >= r.started_at
             AND f.first_at <= r.started_at + toIntervalSecond(${windowDays} * 86400) AS converted,
           if(converted, dateDiff('millisecond', r.started_at, f.first_at) / 86400000, NULL) AS days_to_convert
    FROM (
      SELECT referral_id, min(occurred_at) AS started_at,
             max(stage IN ('CLICKED', 'SIGNED_UP')) AS clicked, max(stage = 'SIGNED_UP') AS signed_up,
             argMinIf(referred_customer_id, occurred_at, referred_customer_id IS NOT NULL) AS referred
      FROM ${T.referrals} WHERE occurred_at <= ${asOf} GROUP BY referral_id
    ) AS r
    LEFT JOIN (${firstPurchasesSql(asOf)}) AS f ON f.customer_id = r.referred`;
}

/** Customers acquired by referral: the referred customer of a converted referral (default window). */
export function referredCustomersSql(asOf: string, p: Params): string {
  const windowDays = p.add('UInt32', DEFAULT_ATTRIBUTION_DAYS, 'referredWindowDays');
  return `SELECT DISTINCT referred FROM (${referralOutcomesSql(asOf, windowDays)}) WHERE converted`;
}
