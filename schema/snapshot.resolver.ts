import { Args, ArgsType, Ctx, Field, Query, Resolver } from 'type-graphql';
import { checkCurrency, checkPeriodCount } from '../loaders/args.js';
import { Grain } from '../loaders/grain.js';
import { runKpiSnapshot, type SnapshotArgs } from '../loaders/snapshot.loader.js';
import type { Context } from '../server/context.js';
import { resolveWindow, WindowArgs } from './common.args.js';
import { KpiSnapshot } from './snapshot.type.js';

@ArgsType()
export class KpiSnapshotArgs extends WindowArgs {
  @Field(() => Grain, { nullable: true, defaultValue: Grain.MONTH })
  grain?: Grain | null;

  @Field(() => String, { nullable: true, description: 'ISO 4217; default REPORTING_CURRENCY (USD).' })
  currency?: string | null;
}

export function resolveSnapshot(args: KpiSnapshotArgs, ctx: Context): SnapshotArgs {
  const { from, to, asOf } = resolveWindow(args, ctx.now());
  const grain = args.grain ?? Grain.MONTH;
  // Its retention, NPS and CSAT run over the window's periods of `grain`.
  checkPeriodCount({ grain, from, to });
  return { from, to, asOf, grain, currency: checkCurrency(args.currency ?? ctx.config.reportingCurrency), margin: ctx.config.grossMargin };
}

@Resolver()
export class SnapshotResolver {
  @Query(() => KpiSnapshot, { description: 'All headline KPIs of a window in one object.' })
  kpiSnapshot(@Args(() => KpiSnapshotArgs) args: KpiSnapshotArgs, @Ctx() ctx: Context): Promise<KpiSnapshot> {
    return runKpiSnapshot(ctx.loaders, resolveSnapshot(args, ctx), ctx.now);
  }
}
