import { Args, Ctx, Query, Resolver, UseMiddleware } from 'type-graphql';
import type { Context } from './context.js';
import { FilterWarnings, CohortArgs, PeriodArgs, resolveCohorts, resolvePeriods } from './common.args.js';
import { PeriodRetention, PeriodRetentionSummary, RetentionCohorts } from './retention.type.js';

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

  @Query(() => PeriodRetentionSummary, { description: 'retentionRate with its pooled rate over the window.' })
  async retentionRateSummary(@Args(() => PeriodArgs) args: PeriodArgs, @Ctx() ctx: Context): Promise<PeriodRetentionSummary> {
    return ctx.loaders.periodRetention.load(resolvePeriods(args, ctx.now()));
  }
}
