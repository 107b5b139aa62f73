import { Arg, Args, ArgsType, Ctx, Field, Int, Query, Resolver, UseMiddleware } from 'type-graphql';
import { checkCohortStart, checkFirst, checkInstant, checkOffset, checkTimezone } from '../loaders/args.js';
import { checkCustomerFilter } from '../loaders/customer-filter.js';
import { decodeCursor } from '../loaders/cursor.js';
import { Grain } from '../loaders/grain.js';
import type { CohortCustomersPageArgs } from '../loaders/retention.loader.js';
import { Breakdown } from '../loaders/breakdown.sql.js';
import type { Group } from '../loaders/breakdown.js';
import type { Context } from './context.js';
import { DateTimeScalar } from './scalars.js';
import { CustomerFilterInput, FilterWarnings, CohortArgs, PeriodArgs, resolveCohorts, resolvePeriods } from './common.args.js';
import { CohortCustomers, PeriodRetention, PeriodRetentionGroup, PeriodRetentionSummary, RetentionCohorts, RetentionCohortsGroup } from './retention.type.js';

/** Most ids one cohortCustomers page holds; the CSV export streams a whole cell. */
export const MAX_COHORT_CUSTOMERS_PAGE = 1000;

@ArgsType()
export class CohortCustomersArgs {
  @Field(() => Grain, { nullable: true, defaultValue: Grain.MONTH })
  grain?: Grain | null;

  @Field(() => DateTimeScalar, { description: "The cohort: its cohortStart in retentionCohorts, the start of its period." })
  cohortStart!: Date;

  @Field(() => Int, { description: 'The cell: offset 0..120 from the cohort period.' })
  offset!: number;

  @Field(() => Boolean, {
    nullable: true,
    description: "true: the cell's retained customers (bought in its period); false: the cohort's other customers; left out: the whole cohort.",
  })
  retained?: boolean | null;

  @Field(() => String, { nullable: true, description: 'IANA zone for period boundaries; default UTC.' })
  timezone?: string | null;

  @Field(() => DateTimeScalar, { nullable: true, description: 'Evaluation time: nothing after it counts. Default: now.' })
  asOf?: Date | null;

  @Field(() => CustomerFilterInput, { nullable: true })
  filter?: CustomerFilterInput | null;

  @Field(() => Int, { nullable: true, defaultValue: 100, description: `Page size, 1..${MAX_COHORT_CUSTOMERS_PAGE}.` })
  first?: number | null;

  @Field(() => String, { nullable: true, description: 'endCursor of the previous page.' })
  after?: string | null;
}

/** cohortCustomers' arguments checked before any SQL; the CSV export takes the same ones but `first` and `after`. */
export function resolveCohortCustomers(a: CohortCustomersArgs, now: Date): CohortCustomersPageArgs {
  const grain = a.grain ?? Grain.MONTH;
  const timezone = checkTimezone(a.timezone);
  return {
    grain,
    timezone,
    cohortStart: checkCohortStart(a.cohortStart, grain, timezone),
    offset: checkOffset(a.offset),
    retained: a.retained ?? null,
    asOf: a.asOf ? checkInstant('asOf', a.asOf) : now,
    filter: checkCustomerFilter(a.filter),
    first: checkFirst(a.first ?? 100, MAX_COHORT_CUSTOMERS_PAGE),
    after: a.after == null ? null : decodeCursor(a.after, 1, 'cohortCustomers')[0]!,
  };
}

@Resolver()
@UseMiddleware(FilterWarnings)
export class RetentionResolver {
  @Query(() => RetentionCohorts, { description: 'Cohorts by period of first purchase ever, with retention per offset.' })
  async retentionCohorts(@Args(() => CohortArgs) args: CohortArgs, @Ctx() ctx: Context): Promise<RetentionCohorts> {
    const resolved = resolveCohorts(args, ctx.now());
    return { grain: resolved.grain, ...(await ctx.loaders.retentionCohorts.load(resolved)) };
  }

  @Query(() => CohortCustomers, {
    description: 'The customer ids of one retentionCohorts cell, ascending: its retained customers, the others of its cohort, or the whole cohort.',
  })
  cohortCustomers(@Args(() => CohortCustomersArgs) args: CohortCustomersArgs, @Ctx() ctx: Context): Promise<CohortCustomers> {
    return ctx.loaders.cohortCustomers(resolveCohortCustomers(args, ctx.now()));
  }

  @Query(() => [PeriodRetention], { description: 'Share of the previous period\'s customers who bought again, per period.' })
  async retentionRate(@Args(() => PeriodArgs) args: PeriodArgs, @Ctx() ctx: Context): Promise<PeriodRetention[]> {
    return (await ctx.loaders.periodRetention.load(resolvePeriods(args, ctx.now()))).periods;
  }

  @Query(() => [RetentionCohortsGroup], { description: 'retentionCohorts per group of customers (spec section 13).' })
  async retentionCohortsBy(
    @Args(() => CohortArgs) args: CohortArgs,
    @Arg('by', () => Breakdown) by: Breakdown,
    @Ctx() ctx: Context,
  ): Promise<Group<RetentionCohorts>[]> {
    const resolved = resolveCohorts(args, ctx.now());
    const groups = await ctx.loaders.retentionCohortsBy.load({ ...resolved, by });
    return groups.map(({ key, value }) => ({ key, value: { grain: resolved.grain, ...value } }));
  }

  @Query(() => [PeriodRetentionGroup], { description: 'retentionRate per group of customers (spec section 13).' })
  async retentionRateBy(@Args(() => PeriodArgs) args: PeriodArgs, @Arg('by', () => Breakdown) by: Breakdown, @Ctx() ctx: Context): Promise<Group<PeriodRetention[]>[]> {
    const groups = await ctx.loaders.periodRetentionBy.load({ ...resolvePeriods(args, ctx.now()), by });
    return groups.map(({ key, value }) => ({ key, value: value.periods }));
  }

  @Query(() => PeriodRetentionSummary, { description: 'retentionRate with its pooled rate over the window.' })
  async retentionRateSummary(@Args(() => PeriodArgs) args: PeriodArgs, @Ctx() ctx: Context): Promise<PeriodRetentionSummary> {
    return ctx.loaders.periodRetention.load(resolvePeriods(args, ctx.now()));
  }
}
