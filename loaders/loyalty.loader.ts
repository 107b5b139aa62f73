import type { Executor, QueryContext } from '../server/storage/executor.js';
import { rateDifference, rateWithInterval } from './args.js';
import { MAX_GROUPS } from './breakdown.sql.js';
import { BadInputError } from './errors.js';
import { kpiLoader } from './kpi-loader.js';
import { loyaltyGroupsSql, loyaltyTotalsSql, type LoyaltyProgramArgs, type LoyaltyWindow } from './loyalty.sql.js';
import { ratio } from './sql.js';

export interface LoyaltyTotals {
  members: number;
  joined: number;
  left: number;
  pointsEarned: number;
  pointsRedeemed: number;
  pointsOutstanding: number;
}

export interface LoyaltyGroupResult {
  customers: number;
  activeCustomers: number;
  activeRate: number | null;
  activeRateLow: number | null;
  activeRateHigh: number | null;
  orders: number;
  ordersPerCustomer: number | null;
  revenuePerCustomer: number | null;
}

export interface LoyaltyProgramResult extends LoyaltyTotals {
  redemptionRate: number | null;
  memberGroup: LoyaltyGroupResult;
  nonMemberGroup: LoyaltyGroupResult;
  activeRateDifference: number | null;
  activeRateDifferenceLow: number | null;
  activeRateDifferenceHigh: number | null;
  tiers: (LoyaltyGroupResult & { tier: string })[];
}

interface GroupRow {
  kind: 'member' | 'other' | 'tier';
  tier: string | null;
  customers: number;
  active: number;
  orders: number;
  revenue: string;
}

export async function runLoyaltyTotals(exec: Executor, ctx: QueryContext, a: LoyaltyWindow): Promise<LoyaltyTotals> {
  const [row] = await exec.rows<{ members: number; joined: number; left_events: number; points_earned: number; points_redeemed: number; points_outstanding: number }>(
    loyaltyTotalsSql(a),
    ctx,
  );
  const r = row!;
  return { members: r.members, joined: r.joined, left: r.left_events, pointsEarned: r.points_earned, pointsRedeemed: r.points_redeemed, pointsOutstanding: r.points_outstanding };
}

function group(row: GroupRow | undefined): LoyaltyGroupResult {
  const { customers = 0, active = 0, orders = 0, revenue = '0' } = row ?? {};
  const rate = rateWithInterval(active, customers);
  return {
    customers,
    activeCustomers: active,
    activeRate: rate.rate,
    activeRateLow: rate.rateLow,
    activeRateHigh: rate.rateHigh,
    orders,
    ordersPerCustomer: ratio(orders, customers),
    // The exact Decimal sum, converted once at the end.
    revenuePerCustomer: ratio(Number(revenue), customers),
  };
}

export async function runLoyaltyProgram(exec: Executor, ctx: QueryContext, totals: Promise<LoyaltyTotals>, a: LoyaltyProgramArgs): Promise<LoyaltyProgramResult> {
  const [t, rows] = await Promise.all([totals, exec.rows<GroupRow>(loyaltyGroupsSql(a), ctx)]);
  // Tiers are the store's own strings: their number is bounded like a breakdown's groups.
  const tiers = rows.filter((r) => r.kind === 'tier');
  if (tiers.length > MAX_GROUPS) throw new BadInputError(`more than ${MAX_GROUPS} loyalty tiers are held at "from": filter first (filter.loyaltyTier)`, 'filter');
  const members = group(rows.find((r) => r.kind === 'member'));
  const others = group(rows.find((r) => r.kind === 'other'));
  const difference = rateDifference(members.activeCustomers, members.customers, others.activeCustomers, others.customers);
  return {
    ...t,
    redemptionRate: ratio(t.pointsRedeemed, t.pointsEarned),
    memberGroup: members,
    nonMemberGroup: others,
    activeRateDifference: difference.difference,
    activeRateDifferenceLow: difference.low,
    activeRateDifferenceHigh: difference.high,
    tiers: tiers.map((r) => ({ tier: r.tier!, ...group(r) })),
  };
}

export function loyaltyLoaders(exec: Executor, ctx: QueryContext) {
  // The totals are kpiSnapshot's loyalty figures too: a document asking both runs them once.
  const loyaltyTotals = kpiLoader((a: LoyaltyWindow) => runLoyaltyTotals(exec, ctx, a));
  const loyaltyProgram = kpiLoader((a: LoyaltyProgramArgs) =>
    runLoyaltyProgram(exec, ctx, loyaltyTotals.load({ from: a.from, to: a.to, asOf: a.asOf, filter: a.filter ?? null }), a),
  );
  return { loyaltyTotals, loyaltyProgram };
}
