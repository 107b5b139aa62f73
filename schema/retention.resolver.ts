import { Arg, Args, Ctx, Query, Resolver, UseMiddleware } from 'type-graphql';
import { Breakdown } from '../loaders/breakdown.sql.js';
import type { Group } from '../loaders/breakdown.js';
import type { Context } from './context.js';
import { FilterWarnings, CohortArgs, PeriodArgs, resolveCohorts, resolvePeriods } from './common.args.js';
import { PeriodRetention, PeriodRetentionGroup, PeriodRetentionSummary, RetentionCohorts, RetentionCohortsGroup } from './retention.type.js';

@Resolver()
@UseMiddleware(FilterWarnings)
export class RetentionResolver {
  @Query(() => RetentionCohorts, { description: 'Cohorts by period of first purchase ever, with retention per offset.' })
  async retentionCohorts(@Args(() => CohortArgs) args: CohortArgs, @Ctx() ctx: Context): Promise<RetentionCohorts> {
    const resolved = resolveCohorts(args, ctx.now());
    return { grain: resolved.grain, ...(await ctx.loaders.retentionCohorts.load(resolved)) };
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
