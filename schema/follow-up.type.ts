import { ArgsType, Field, Float, Int, ObjectType } from 'type-graphql';
import { checkWindowDays } from '../loaders/args.js';
import { BadInputError } from '../loaders/errors.js';
import { DEFAULT_FOLLOW_UP_WINDOW_DAYS, MAX_CAMPAIGNS } from '../loaders/follow-up.sql.js';
import { idErrors } from '../server/ingest/validate.js';
import { resolveWindow, WindowArgs } from './common.args.js';

@ArgsType()
export class FollowUpImpactArgs extends WindowArgs {
  @Field(() => String, { description: 'The campaign, as touch events name it.' })
  campaign!: string;

  @Field(() => Int, { nullable: true, defaultValue: DEFAULT_FOLLOW_UP_WINDOW_DAYS, description: 'Days after assignment in which a purchase converts (1..3650).' })
  windowDays?: number | null;

  @Field(() => String, { nullable: true, description: 'ISO 4217 code of the revenue; default: REPORTING_CURRENCY, else USD.' })
  currency?: string | null;
}

/** Validation before any SQL: the window, the campaign by the rules of the events' campaign field, windowDays. */
export function resolveFollowUpImpact(a: FollowUpImpactArgs, now: Date) {
  const { from, to, asOf } = resolveWindow(a, now);
  const errors = idErrors(a.campaign, 'campaign');
  if (errors.length > 0) throw new BadInputError(errors.join('; '), 'campaign');
  return { campaign: a.campaign, from, to, asOf, windowDays: checkWindowDays(a.windowDays ?? DEFAULT_FOLLOW_UP_WINDOW_DAYS) };
}

export function resolveFollowUpCampaigns(a: WindowArgs, now: Date) {
  const { from, to, asOf } = resolveWindow(a, now);
  return { from, to, asOf };
}

@ObjectType({ description: 'Customers assigned to one side of a campaign whose conversion window has ended by asOf.' })
export class TouchGroup {
  @Field(() => Int) customers!: number;
  @Field(() => Int, { description: 'Customers with an OPENED touch of the campaign at or after their assignment, up to asOf.' }) opened!: number;
  @Field(() => Int, { description: 'Customers with a CLICKED touch of the campaign at or after their assignment, up to asOf.' }) clicked!: number;
  @Field(() => Int, { description: 'Customers with at least one order (not cancelled) in (t0, t0 + windowDays].' }) converted!: number;
  @Field(() => Float, { nullable: true, description: 'converted / customers.' }) conversionRate!: number | null;
  @Field(() => Float, { nullable: true, description: 'Lower bound of the 95% Wilson score interval.' }) conversionRateLow!: number | null;
  @Field(() => Float, { nullable: true, description: 'Upper bound of the 95% Wilson score interval.' }) conversionRateHigh!: number | null;
  @Field(() => Int, { description: 'Orders (every currency, not cancelled) in each customer\'s (t0, t0 + windowDays].' }) orders!: number;
  @Field(() => Float, { description: 'Net revenue in the currency in each customer\'s (t0, t0 + windowDays]: orders minus refunds of orders not cancelled.' })
  revenue!: number;
}

@ObjectType({ description: 'Treated (assigned by SENT) against control (assigned by HELD_OUT) customers of one campaign.' })
export class FollowUpImpact {
  @Field(() => String) campaign!: string;
  @Field(() => Int, { description: 'Customers assigned in the window whose conversion window ends after asOf: counted nowhere else.' }) pending!: number;
  @Field(() => TouchGroup) treated!: TouchGroup;
  @Field(() => TouchGroup) control!: TouchGroup;
  @Field(() => Float, { nullable: true, description: 'treated.conversionRate - control.conversionRate; null when a group is empty.' }) uplift!: number | null;
  @Field(() => Float, { nullable: true, description: "Lower bound of uplift's 95% interval (Newcombe's method 10)." }) upliftLow!: number | null;
  @Field(() => Float, { nullable: true, description: "Upper bound of uplift's 95% interval (Newcombe's method 10)." }) upliftHigh!: number | null;
  @Field(() => Float, { nullable: true, description: 'treated.customers x (treated.orders / treated.customers - control.orders / control.customers).' })
  incrementalOrders!: number | null;
}

@ObjectType({ description: 'A campaign with customers assigned in the window.' })
export class FollowUpCampaign {
  @Field(() => String) campaign!: string;
  @Field(() => Int, { description: 'Customers assigned by SENT.' }) sent!: number;
  @Field(() => Int, { description: 'Customers assigned by HELD_OUT.' }) heldOut!: number;
  @Field(() => Int, { description: 'Of the sent, customers with an OPENED touch at or after assignment, up to asOf.' }) opened!: number;
  @Field(() => Int, { description: 'Of the sent, customers with a CLICKED touch at or after assignment, up to asOf.' }) clicked!: number;
  @Field(() => Float, { nullable: true, description: 'opened / sent.' }) openRate!: number | null;
  @Field(() => Float, { nullable: true, description: 'clicked / sent.' }) clickRate!: number | null;
}

export const CAMPAIGNS_BOUND = `Ordered by campaign (code points). At most ${MAX_CAMPAIGNS}: a window with more is refused.`;
