import type { Executor, QueryContext } from '../server/storage/executor.js';
import { kpiLoader, windowsLoader } from './kpi-loader.js';
import { referralCohortsSql, referralConversionSql, referralImpactSql, type ReferralCohortArgs, type ReferralImpactArgs } from './referral.sql.js';
import { fromChDateTime, ratio } from './sql.js';

export interface ReferralCohortResult {
  cohortStart: Date;
  invited: number;
  clicked: number;
  signedUp: number;
  converted: number;
  clickRate: number | null;
  signupRate: number | null;
  conversionRate: number | null;
  medianDaysToConvert: number | null;
}

export interface ReferralGroupResult {
  customers: number;
  repeatCustomers: number;
  repeatRate: number | null;
  averageRevenue: number | null;
}

export interface ReferralImpactResult {
  referred: ReferralGroupResult;
  organic: ReferralGroupResult;
  kFactor: number | null;
  /** Referrals started in [from, to), and those of them converted: the snapshot's conversion rate. */
  referralsStarted: number;
  referralsConverted: number;
  conversionRate: number | null;
}

type CohortRow = { cohort_start: string; invited: number; clicks: number; signups: number; conversions: number; median_days: number | null };

export async function runReferralCohorts(exec: Executor, ctx: QueryContext, a: ReferralCohortArgs): Promise<ReferralCohortResult[]> {
  const rows = await exec.rows<CohortRow>(referralCohortsSql(a), ctx);
  return rows.map((r) => ({
    cohortStart: fromChDateTime(r.cohort_start),
    invited: r.invited,
    clicked: r.clicks,
    signedUp: r.signups,
    converted: r.conversions,
    clickRate: ratio(r.clicks, r.invited),
    signupRate: ratio(r.signups, r.invited),
    conversionRate: ratio(r.conversions, r.invited),
    medianDaysToConvert: r.median_days,
  }));
}

type ImpactRow = {
  referred_customers: number;
  referred_repeat: number;
  referred_revenue: string;
  organic_customers: number;
  organic_repeat: number;
  organic_revenue: string;
  active_customers: number;
  referrals_started: number;
  referrals_converted: number;
};

/** Revenue arrives as exact decimal text and becomes a double only here, at the edge. */
function group(customers: number, repeatCustomers: number, revenue: string): ReferralGroupResult {
  return {
    customers,
    repeatCustomers,
    repeatRate: ratio(repeatCustomers, customers),
    averageRevenue: ratio(Number(revenue), customers),
  };
}

export async function runReferralImpact(exec: Executor, ctx: QueryContext, a: ReferralImpactArgs): Promise<ReferralImpactResult> {
  const [r] = await exec.rows<ImpactRow>(referralImpactSql(a), ctx);
  const reach = ratio(r!.referrals_started, r!.active_customers);
  const conversion = ratio(r!.referrals_converted, r!.referrals_started);
  return {
    referred: group(r!.referred_customers, r!.referred_repeat, r!.referred_revenue),
    organic: group(r!.organic_customers, r!.organic_repeat, r!.organic_revenue),
    kFactor: reach === null || conversion === null ? null : reach * conversion,
    referralsStarted: r!.referrals_started,
    referralsConverted: r!.referrals_converted,
    conversionRate: conversion,
  };
}

export function referralLoaders(exec: Executor, ctx: QueryContext) {
  return {
    referralCohorts: kpiLoader((a: ReferralCohortArgs) => runReferralCohorts(exec, ctx, a)),
    referralImpact: kpiLoader((a: ReferralImpactArgs) => runReferralImpact(exec, ctx, a)),
    referralConversion: windowsLoader<Omit<ReferralImpactArgs, 'currency'>, number | null>(async (a, windows) => {
      const rows = new Map((await exec.rows<{ w: number; started: number; converted: number }>(referralConversionSql(a, windows), ctx)).map((r) => [r.w, r]));
      return windows.map((_, i) => ratio(rows.get(i + 1)?.converted ?? 0, rows.get(i + 1)?.started ?? 0));
    }),
  };
}
