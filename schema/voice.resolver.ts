import { Arg, Args, Ctx, Query, Resolver, UseMiddleware } from 'type-graphql';
import { Breakdown } from '../loaders/breakdown.sql.js';
import type { Group } from '../loaders/breakdown.js';
import { resolveCurrency } from '../loaders/reporting-currency.js';
import type { Context } from './context.js';
import { FilterWarnings, resolvePeriods, resolveWindow } from './common.args.js';
import { CsatReport, CsatReportGroup, NpsImpact, NpsImpactArgs, NpsReport, NpsReportGroup, VoiceArgs } from './voice.type.js';

@Resolver()
@UseMiddleware(FilterWarnings)
export class VoiceResolver {
  @Query(() => NpsReport, { description: 'Net Promoter Score of the window\'s NPS responses, with a series per period.' })
  nps(@Args(() => VoiceArgs) args: VoiceArgs, @Ctx() ctx: Context): Promise<NpsReport> {
    return ctx.loaders.nps.load({ ...resolvePeriods(args, ctx.now()), surveyId: args.surveyId ?? null });
  }

  @Query(() => CsatReport, { description: 'Share of satisfied (4-5) CSAT responses in the window, with a series per period.' })
  csat(@Args(() => VoiceArgs) args: VoiceArgs, @Ctx() ctx: Context): Promise<CsatReport> {
    return ctx.loaders.csat.load({ ...resolvePeriods(args, ctx.now()), surveyId: args.surveyId ?? null });
  }

  @Query(() => [NpsReportGroup], { description: 'nps per group of customers (spec section 13): each response in its customer\'s group.' })
  npsBy(@Args(() => VoiceArgs) args: VoiceArgs, @Arg('by', () => Breakdown) by: Breakdown, @Ctx() ctx: Context): Promise<Group<NpsReport>[]> {
    return ctx.loaders.npsBy.load({ ...resolvePeriods(args, ctx.now()), surveyId: args.surveyId ?? null, by });
  }

  @Query(() => [CsatReportGroup], { description: 'csat per group of customers (spec section 13): each response in its customer\'s group.' })
  csatBy(@Args(() => VoiceArgs) args: VoiceArgs, @Arg('by', () => Breakdown) by: Breakdown, @Ctx() ctx: Context): Promise<Group<CsatReport>[]> {
    return ctx.loaders.csatBy.load({ ...resolvePeriods(args, ctx.now()), surveyId: args.surveyId ?? null, by });
  }

  @Query(() => NpsImpact, { description: 'Repeat purchases and revenue of promoters, passives and detractors (latest NPS response in the window).' })
  async npsImpact(@Args(() => NpsImpactArgs) args: NpsImpactArgs, @Ctx() ctx: Context): Promise<NpsImpact> {
    return ctx.loaders.npsImpact.load({
      ...resolveWindow(args, ctx.now()),
      surveyId: args.surveyId ?? null,
      currency: await resolveCurrency(args.currency, ctx),
    });
  }
}
