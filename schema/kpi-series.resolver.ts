import { Args, Ctx, Query, Resolver } from 'type-graphql';
import { runKpiSeries } from '../loaders/kpi-series.js';
import type { Context } from './context.js';
import { KpiSnapshotArgs, resolveSnapshot } from './snapshot.resolver.js';
import { KpiSnapshot } from './snapshot.type.js';

@Resolver()
export class KpiSeriesResolver {
  @Query(() => [KpiSnapshot], {
    description: 'kpiSnapshot of every UTC period of `grain` that starts in [from, to) (at most 120), oldest first: headline KPIs as trends.',
  })
  async kpiSeries(@Args(() => KpiSnapshotArgs) args: KpiSnapshotArgs, @Ctx() ctx: Context): Promise<KpiSnapshot[]> {
    return runKpiSeries(ctx.loaders, await resolveSnapshot(args, ctx), ctx.now);
  }
}
