import { Args, ArgsType, Ctx, Field, Query, Resolver } from 'type-graphql';
import { checkPeriodCount } from '../loaders/args.js';
import { Grain } from '../loaders/grain.js';
import { resolveCurrency } from '../loaders/reporting-currency.js';
import { runKpiSnapshot, type SnapshotArgs } from '../loaders/snapshot.js';
import type { Context } from './context.js';
import { resolveWindow, WindowArgs } from './common.args.js';
import { KpiSnapshot } from './snapshot.type.js';

@ArgsType()
export class KpiSnapshotArgs extends WindowArgs {
  @Field(() => Grain, { nullable: true, defaultValue: Grain.MONTH })
  grain?: Grain | null;

  @Field(() => String, { nullable: true, description: "ISO 4217; default REPORTING_CURRENCY, else USD." })
  currency?: string | null;
}

export async function resolveSnapshot(args: KpiSnapshotArgs, ctx: Context): Promise<SnapshotArgs> {
  const { from, to, asOf } = resolveWindow(args, ctx.now());
  const grain = args.grain ?? Grain.MONTH;
  // Its retention, NPS and CSAT run over the window's periods of `grain`.
  checkPeriodCount({ grain, from, to });
  return { from, to, asOf, grain, currency: await resolveCurrency(args.currency, ctx), margin: ctx.config.grossMargin };
}

@Resolver()
export class SnapshotResolver {
  @Query(() => KpiSnapshot, { description: 'All headline KPIs of a window in one object.' })
  async kpiSnapshot(@Args(() => KpiSnapshotArgs) args: KpiSnapshotArgs, @Ctx() ctx: Context): Promise<KpiSnapshot> {
    return runKpiSnapshot(ctx.loaders, await resolveSnapshot(args, ctx), ctx.now);
  }
}
