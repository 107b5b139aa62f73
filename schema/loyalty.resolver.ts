import { Args, Ctx, Query, Resolver, UseMiddleware } from 'type-graphql';
import { resolveCurrency } from '../loaders/reporting-currency.js';
import type { Context } from './context.js';
import { FilterWarnings, resolveWindow } from './common.args.js';
import { LoyaltyProgram, LoyaltyProgramArgs } from './loyalty.type.js';

@Resolver()
@UseMiddleware(FilterWarnings)
export class LoyaltyResolver {
  @Query(() => LoyaltyProgram, { description: 'Loyalty program membership and points, and how members buy against the others (spec section 14).' })
  async loyaltyProgram(@Args(() => LoyaltyProgramArgs) args: LoyaltyProgramArgs, @Ctx() ctx: Context): Promise<LoyaltyProgram> {
    return ctx.loaders.loyaltyProgram.load({ ...resolveWindow(args, ctx.now()), currency: await resolveCurrency(args.currency, ctx) });
  }
}
