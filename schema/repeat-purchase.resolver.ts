import { Arg, Args, Ctx, Query, Resolver, UseMiddleware } from 'type-graphql';
import { Breakdown } from '../loaders/breakdown.sql.js';
import type { Group } from '../loaders/breakdown.js';
import type { Context } from './context.js';
import { FilterWarnings, FilteredWindowArgs, resolveWindow } from './common.args.js';
import { RepeatPurchase, RepeatPurchaseGroup } from './repeat-purchase.type.js';

@Resolver()
@UseMiddleware(FilterWarnings)
export class RepeatPurchaseResolver {
  @Query(() => RepeatPurchase, { description: 'Share of the window\'s customers with two or more purchases in it.' })
  repeatPurchaseRate(@Args(() => FilteredWindowArgs) args: FilteredWindowArgs, @Ctx() ctx: Context): Promise<RepeatPurchase> {
    return ctx.loaders.repeatPurchase.load(resolveWindow(args, ctx.now()));
  }

  @Query(() => [RepeatPurchaseGroup], { description: 'repeatPurchaseRate per group of customers (spec section 13).' })
  repeatPurchaseRateBy(
    @Args(() => FilteredWindowArgs) args: FilteredWindowArgs,
    @Arg('by', () => Breakdown) by: Breakdown,
    @Ctx() ctx: Context,
  ): Promise<Group<RepeatPurchase>[]> {
    return ctx.loaders.repeatPurchaseBy.load({ ...resolveWindow(args, ctx.now()), by });
  }
}
