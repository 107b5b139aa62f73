import { Args, Ctx, Query, Resolver } from 'type-graphql';
import { resolveCurrency } from '../loaders/reporting-currency.js';
import { WindowArgs } from './common.args.js';
import type { Context } from './context.js';
import { CAMPAIGNS_BOUND, FollowUpCampaign, FollowUpImpact, FollowUpImpactArgs, resolveFollowUpCampaigns, resolveFollowUpImpact } from './follow-up.type.js';

@Resolver()
export class FollowUpResolver {
  @Query(() => FollowUpImpact, { description: 'Conversion, orders and revenue after a campaign: treated against held-out control customers assigned in the window.' })
  async followUpImpact(@Args(() => FollowUpImpactArgs) args: FollowUpImpactArgs, @Ctx() ctx: Context): Promise<FollowUpImpact> {
    // Every other argument is checked first: defaulting the currency may ask the store.
    const resolved = resolveFollowUpImpact(args, ctx.now());
    return ctx.loaders.followUpImpact.load({ ...resolved, currency: await resolveCurrency(args.currency, ctx) });
  }

  @Query(() => [FollowUpCampaign], { description: `Campaigns with customers assigned in the window: sent, held out, opened and clicked. ${CAMPAIGNS_BOUND}` })
  followUpCampaigns(@Args(() => WindowArgs) args: WindowArgs, @Ctx() ctx: Context): Promise<FollowUpCampaign[]> {
    return ctx.loaders.followUpCampaigns.load(resolveFollowUpCampaigns(args, ctx.now()));
  }
}
