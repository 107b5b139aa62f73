import { ArgsType, Field, Float, Int, ObjectType } from 'type-graphql';
import { checkAttributionWindow, checkPeriodCount, checkTimezone } from '../loaders/args.js';
import { Grain } from '../loaders/grain.js';
import { DEFAULT_ATTRIBUTION_DAYS } from '../loaders/referral.sql.js';
import { resolveWindow, WindowArgs } from './common.args.js';
import { DateTimeScalar } from './scalars.js';

@ArgsType()
export class ReferralCohortArgs extends WindowArgs {
  @Field(() => Grain, { nullable: true, defaultValue: Grain.MONTH })
  grain?: Grain | null;

  @Field(() => Int, { nullable: true, defaultValue: DEFAULT_ATTRIBUTION_DAYS, description: 'Days after the referral started in which a first purchase converts it (0..3650).' })
  attributionWindowDays?: number | null;

  @Field(() => String, { nullable: true, description: 'IANA zone for period boundaries; default UTC.' })
  timezone?: string | null;
}

@ArgsType()
export class ReferralImpactArgs extends WindowArgs {
  @Field(() => String, { nullable: true, description: 'ISO 4217 code of the revenue; default: REPORTING_CURRENCY, else USD.' })
  currency?: string | null;
}

/** Validation before any SQL; referral KPIs take no customer filter. */
export function resolveReferralCohorts(a: ReferralCohortArgs, now: Date) {
  const { from, to, asOf } = resolveWindow(a, now);
  const resolved = { from, to, asOf, grain: a.grain ?? Grain.MONTH, timezone: checkTimezone(a.timezone), attributionWindowDays: checkAttributionWindow(a.attributionWindowDays ?? DEFAULT_ATTRIBUTION_DAYS) };
  checkPeriodCount(resolved);
  return resolved;
}

/** `currency` comes resolved (loaders/reporting-currency.ts): defaulting it may ask the store. */
export function resolveReferralImpact(a: ReferralImpactArgs, now: Date, currency: string) {
  const { from, to, asOf } = resolveWindow(a, now);
  return { from, to, asOf, currency };
}

@ObjectType({ description: 'Referrals that started in one period, and how far they got.' })
export class ReferralCohort {
  @Field(() => DateTimeScalar) cohortStart!: Date;
  @Field(() => Int, { description: 'Every referral counts as invited, with or without an INVITED event.' }) invited!: number;
  @Field(() => Int, { description: 'Referrals with a CLICKED or SIGNED_UP event.' }) clicked!: number;
  @Field(() => Int) signedUp!: number;
  @Field(() => Int, { description: "Referred customer's first purchase ever within the attribution window." }) converted!: number;
  @Field(() => Float, { nullable: true }) clickRate!: number | null;
  @Field(() => Float, { nullable: true }) signupRate!: number | null;
  @Field(() => Float, { nullable: true }) conversionRate!: number | null;
  @Field(() => Float, { nullable: true, description: 'Exact median of fractional days from start to first purchase over converted referrals.' })
  medianDaysToConvert!: number | null;
}

@ObjectType({ description: 'Customers whose first purchase ever is in the window, of one acquisition group.' })
export class ReferralGroup {
  @Field(() => Int) customers!: number;
  @Field(() => Int, { description: 'Customers with two or more purchases up to asOf.' }) repeatCustomers!: number;
  @Field(() => Float, { nullable: true }) repeatRate!: number | null;
  @Field(() => Float, { nullable: true, description: 'Revenue in the currency up to asOf per customer.' }) averageRevenue!: number | null;
}

@ObjectType()
export class ReferralImpact {
  @Field(() => ReferralGroup) referred!: ReferralGroup;
  @Field(() => ReferralGroup) organic!: ReferralGroup;
  @Field(() => Float, { nullable: true, description: '(referrals started / active customers) x (converted / invited), over the window.' })
  kFactor!: number | null;

  @Field(() => Int, { description: 'Referrals started in [from, to) (every referral counts as invited).' })
  referralsStarted!: number;

  @Field(() => Int, { description: 'Of those, referrals whose referred customer converted within 90 days.' })
  referralsConverted!: number;

  @Field(() => Float, { nullable: true, description: 'referralsConverted / referralsStarted.' })
  conversionRate!: number | null;
}
