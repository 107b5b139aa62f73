import { ArgsType, Field, InputType, Int, ObjectType, registerEnumType, type MiddlewareFn } from 'type-graphql';
import { checkInstant, checkPeriodCount, checkPeriods, checkTimezone, checkWindow } from '../loaders/args.js';
import { checkCustomerFilter, type CustomerFilterArgs } from '../loaders/customer-filter.js';
import { NpsGroup } from '../loaders/survey-bands.sql.js';
import { Grain } from '../loaders/grain.js';
import { warnUnknownFilterValues } from '../loaders/store-dimensions.loader.js';
import type { Context } from './context.js';
import { DateTimeScalar } from './scalars.js';

registerEnumType(Grain, { name: 'Grain', description: 'Calendar period; WEEK is the ISO week starting Monday.' });
registerEnumType(NpsGroup, { name: 'NpsGroup', description: "The band of a customer's latest NPS response as of asOf." });

// Also an output type (CustomerFilterValue): an alert answers the filter it was given.
@ObjectType('CustomerFilterValue', { description: 'A CustomerFilter as it was given.' })
@InputType('CustomerFilter', {
  description: 'Selects customers by their latest profile as of asOf. Lists combine with OR, fields with AND.',
})
export class CustomerFilterInput implements CustomerFilterArgs {
  @Field(() => [String], { nullable: true, description: 'ISO 3166 alpha-2 codes.' })
  country?: string[] | null;

  @Field(() => [String], { nullable: true, description: 'Acquisition channels.' })
  channel?: string[] | null;

  @Field(() => [String], { nullable: true })
  segment?: string[] | null;

  @Field(() => Boolean, { nullable: true, description: 'true: customers acquired by referral; false: the others.' })
  referred?: boolean | null;

  @Field(() => Boolean, { nullable: true, description: 'true: loyalty program members as of asOf; false: the others.' })
  loyaltyMember?: boolean | null;

  @Field(() => [String], { nullable: true, description: 'Members whose loyalty tier as of asOf is one of these.' })
  loyaltyTier?: string[] | null;

  @Field(() => [NpsGroup], { nullable: true, description: 'The band of the latest NPS response as of asOf; customers without one are excluded.' })
  npsGroup?: NpsGroup[] | null;
}

/**
 * On the resolvers of KPIs that take a `filter`: once the answer is computed (the filter was
 * valid), warns about filter values no customer has as of `asOf`. A warning is advice: when
 * its check fails, the answer still goes out (the failure is logged).
 */
export const FilterWarnings: MiddlewareFn<Context> = async ({ args, context }, next) => {
  const result: unknown = await next();
  const { filter, asOf } = args as { filter?: CustomerFilterArgs | null; asOf?: Date | null };
  if (filter) {
    await warnUnknownFilterValues(context.loaders.dimensionValues, context.warnings, filter, asOf ?? context.now()).catch((err: unknown) =>
      context.log.warn({ err }, 'filter value check failed; answering without its warnings'),
    );
  }
  return result;
};

/** `from`/`to` (half-open window) and `asOf`, shared by every KPI. */
@ArgsType()
export class WindowArgs {
  @Field(() => DateTimeScalar)
  from!: Date;

  @Field(() => DateTimeScalar)
  to!: Date;

  @Field(() => DateTimeScalar, { nullable: true, description: 'Evaluation time: nothing after it counts. Default: now.' })
  asOf?: Date | null;
}

@ArgsType()
export class FilteredWindowArgs extends WindowArgs {
  @Field(() => CustomerFilterInput, { nullable: true })
  filter?: CustomerFilterInput | null;
}

@ArgsType()
export class PeriodArgs extends FilteredWindowArgs {
  // Nullable with a default: leaving it out and sending null both mean MONTH.
  @Field(() => Grain, { nullable: true, defaultValue: Grain.MONTH })
  grain?: Grain | null;

  @Field(() => String, { nullable: true, description: 'IANA zone for period boundaries; default UTC.' })
  timezone?: string | null;
}

@ArgsType()
export class CohortArgs extends PeriodArgs {
  @Field(() => Int, { nullable: true, defaultValue: 12, description: 'Offsets after the cohort period (0..120).' })
  periods?: number | null;
}

/** Validation before any SQL: the window, asOf defaulting to now, the zone, the periods bound. */
export function resolveWindow(a: WindowArgs & { filter?: CustomerFilterInput | null }, now: Date) {
  const { from, to } = checkWindow(a.from, a.to);
  return { from, to, asOf: a.asOf ? checkInstant('asOf', a.asOf) : now, filter: checkCustomerFilter(a.filter) };
}

export function resolvePeriods(a: PeriodArgs, now: Date) {
  const resolved = { ...resolveWindow(a, now), grain: a.grain ?? Grain.MONTH, timezone: checkTimezone(a.timezone) };
  checkPeriodCount(resolved);
  return resolved;
}

/** A cohort matrix answers up to (cohorts in the window) x (periods + 1) cells. */
export function resolveCohorts(a: CohortArgs, now: Date) {
  const resolved = { ...resolvePeriods(a, now), periods: checkPeriods(a.periods ?? 12) };
  checkPeriodCount(resolved, resolved.periods + 1);
  return resolved;
}
