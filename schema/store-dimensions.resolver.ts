import { Arg, Ctx, Query, Resolver } from 'type-graphql';
import { checkInstant } from '../loaders/args.js';
import { runStoreDimensions } from '../loaders/store-dimensions.loader.js';
import type { Context } from './context.js';
import { DateTimeScalar } from './scalars.js';
import { StoreDimensions } from './store-dimensions.type.js';

@Resolver()
export class StoreDimensionsResolver {
  @Query(() => StoreDimensions, { description: 'The currencies, countries, channels, segments and survey ids the store holds as of asOf; ties in code point order.' })
  storeDimensions(
    @Arg('asOf', () => DateTimeScalar, { nullable: true, description: 'Evaluation time: nothing after it counts. Default: now.' }) asOf: Date | null,
    @Ctx() ctx: Context,
  ): Promise<StoreDimensions> {
    return runStoreDimensions(ctx.loaders.dimensionValues, asOf ? checkInstant('asOf', asOf) : ctx.now());
  }
}
