import { Arg, Args, ArgsType, Ctx, Field, Int, Mutation, Query, Resolver } from 'type-graphql';
import type { Context } from './context.js';
import { Erasure } from './erasure.type.js';

@ArgsType()
class ErasuresArgs {
  @Field(() => Int, { nullable: true, defaultValue: 20, description: 'Page size, 1..100.' })
  first?: number | null;

  @Field(() => String, { nullable: true, description: 'The id of the last erasure of the previous page.' })
  after?: string | null;
}

@Resolver()
export class ErasureResolver {
  @Mutation(() => Erasure, {
    description:
      'Erases every event of these customers (scope admin, spec section 16) and answers once that is durable. Erasing again is a no-op that answers the earlier erasure. Needs ERASURE_HMAC_KEY.',
  })
  eraseCustomers(@Arg('customerIds', () => [String]) customerIds: string[], @Ctx() ctx: Context): Promise<Erasure> {
    // Not the request's signal nor deadline: a client that leaves must not cut an erasure in half.
    return ctx.writer.erase(customerIds, { requestId: ctx.requestId });
  }

  @Query(() => [Erasure], { description: 'Finished erasures, newest first (scope admin): ids, times and counts, never the customer ids.' })
  erasures(@Args(() => ErasuresArgs) args: ErasuresArgs, @Ctx() ctx: Context): Promise<Erasure[]> {
    return ctx.writer.erasures.list(args.first ?? 20, args.after ?? null, ctx);
  }
}
