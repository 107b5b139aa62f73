import { Args, Ctx, Query, Resolver, UseMiddleware } from 'type-graphql';
import type { Context } from './context.js';
import { FilterWarnings, FilteredWindowArgs, resolveWindow } from './common.args.js';
import { RepeatPurchase } from './repeat-purchase.type.js';

@Resolver()
@UseMiddleware(FilterWarnings)
export class RepeatPurchaseResolver {
  @Query(() => RepeatPurchase, { description: 'Share of the window\'s customers with two or more purchases in it.' })
  repeatPurchaseRate(@Args(() => FilteredWindowArgs) args: FilteredWindowArgs, @Ctx() ctx: Context): Promise<RepeatPurchase> {
    return ctx.loaders.repeatPurchase.load(resolveWindow(args, ctx.now()));
  }
}
