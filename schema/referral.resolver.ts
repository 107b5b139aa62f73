import { Args, Ctx, Query, Resolver } from 'type-graphql';
import { resolveCurrency } from '../loaders/reporting-currency.js';
import type { Context } from './context.js';
import { ReferralCohort, ReferralCohortArgs, ReferralImpact, ReferralImpactArgs, resolveReferralCohorts, resolveReferralImpact } from './referral.type.js';

@Resolver()
export class ReferralResolver {
  @Query(() => [ReferralCohort], { description: 'Referrals by period of their start: funnel counts, rates and exact median days to convert.' })
  referralConversionCohorts(@Args(() => ReferralCohortArgs) args: ReferralCohortArgs, @Ctx() ctx: Context): Promise<ReferralCohort[]> {
    return ctx.loaders.referralCohorts.load(resolveReferralCohorts(args, ctx.now()));
  }

  @Query(() => ReferralImpact, { description: 'Referred versus organic new customers of the window, and the k-factor.' })
  async referralImpact(@Args(() => ReferralImpactArgs) args: ReferralImpactArgs, @Ctx() ctx: Context): Promise<ReferralImpact> {
    return ctx.loaders.referralImpact.load(resolveReferralImpact(args, ctx.now(), await resolveCurrency(args.currency, ctx)));
  }
}
