import type { Executor, QueryContext } from '../server/storage/executor.js';
import { rateDifference, rateWithInterval } from './args.js';
import { BadInputError } from './errors.js';
import { followUpCampaignsSql, followUpImpactSql, MAX_CAMPAIGNS, type FollowUpCampaignsArgs, type FollowUpImpactArgs } from './follow-up.sql.js';
import { kpiLoader } from './kpi-loader.js';
import { ratio } from './sql.js';

export interface TouchGroupResult {
  customers: number;
  opened: number;
  clicked: number;
  converted: number;
  conversionRate: number | null;
  conversionRateLow: number | null;
  conversionRateHigh: number | null;
  orders: number;
  revenue: number;
}

export interface FollowUpImpactResult {
  campaign: string;
  pending: number;
  treated: TouchGroupResult;
  control: TouchGroupResult;
  uplift: number | null;
  upliftLow: number | null;
  upliftHigh: number | null;
  incrementalOrders: number | null;
}

export interface FollowUpCampaignResult {
  campaign: string;
  sent: number;
  heldOut: number;
  opened: number;
  clicked: number;
  openRate: number | null;
  clickRate: number | null;
}

type GroupColumns = 'customers' | 'opened' | 'clicked' | 'converted' | 'orders';
type ImpactRow = { pending: number } & Record<`${'t' | 'c'}_${GroupColumns}`, number> & Record<`${'t' | 'c'}_revenue`, string>;

/** Revenue arrives as exact decimal text and becomes a double only here, at the edge. */
function group(r: ImpactRow, g: 't' | 'c'): TouchGroupResult {
  const { rate, rateLow, rateHigh } = rateWithInterval(r[`${g}_converted`], r[`${g}_customers`]);
  return {
    customers: r[`${g}_customers`],
    opened: r[`${g}_opened`],
    clicked: r[`${g}_clicked`],
    converted: r[`${g}_converted`],
    conversionRate: rate,
    conversionRateLow: rateLow,
    conversionRateHigh: rateHigh,
    orders: r[`${g}_orders`],
    revenue: Number(r[`${g}_revenue`]),
  };
}

export async function runFollowUpImpact(exec: Executor, ctx: QueryContext, a: FollowUpImpactArgs): Promise<FollowUpImpactResult> {
  const [r] = await exec.rows<ImpactRow>(followUpImpactSql(a), ctx);
  const treated = group(r!, 't');
  const control = group(r!, 'c');
  const uplift = rateDifference(treated.converted, treated.customers, control.converted, control.customers);
  const treatedPace = ratio(treated.orders, treated.customers);
  const controlPace = ratio(control.orders, control.customers);
  return {
    campaign: a.campaign,
    pending: r!.pending,
    treated,
    control,
    uplift: uplift.difference,
    upliftLow: uplift.low,
    upliftHigh: uplift.high,
    // In the spec's own order of operations, so the double matches a reader's computation.
    incrementalOrders: treatedPace === null || controlPace === null ? null : treated.customers * (treatedPace - controlPace),
  };
}

type CampaignRow = { campaign: string; sent: number; held_out: number; opened: number; clicked: number };

export async function runFollowUpCampaigns(exec: Executor, ctx: QueryContext, a: FollowUpCampaignsArgs): Promise<FollowUpCampaignResult[]> {
  const rows = await exec.rows<CampaignRow>(followUpCampaignsSql(a, MAX_CAMPAIGNS + 1), ctx);
  if (rows.length > MAX_CAMPAIGNS) {
    throw new BadInputError(
      `More than ${MAX_CAMPAIGNS} campaigns have assignments between ${a.from.toISOString()} and ${a.to.toISOString()}; one call answers at most ${MAX_CAMPAIGNS}: choose a shorter window`,
      'from',
    );
  }
  return rows.map((r) => ({
    campaign: r.campaign,
    sent: r.sent,
    heldOut: r.held_out,
    opened: r.opened,
    clicked: r.clicked,
    openRate: ratio(r.opened, r.sent),
    clickRate: ratio(r.clicked, r.sent),
  }));
}

export function followUpLoaders(exec: Executor, ctx: QueryContext) {
  return {
    followUpImpact: kpiLoader((a: FollowUpImpactArgs) => runFollowUpImpact(exec, ctx, a)),
    followUpCampaigns: kpiLoader((a: FollowUpCampaignsArgs) => runFollowUpCampaigns(exec, ctx, a)),
  };
}
