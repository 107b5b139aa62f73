import { Arg, Ctx, Query, Resolver } from 'type-graphql';
import { checkInstant } from '../loaders/args.js';
import { MAX_CUSTOMER_IDS } from '../loaders/customers.loader.js';
import type { Context } from './context.js';
import { BadInputError } from '../loaders/errors.js';
import { CustomerStats } from './customers.type.js';
import { DateTimeScalar } from './scalars.js';

/** customers' arguments checked before any SQL; the CSV export (server/export-routes.ts) takes the same. */
export function resolveCustomerList(ids: string[], asOf: Date | null | undefined, now: Date): { ids: string[]; asOf: Date } {
  if (ids.length > MAX_CUSTOMER_IDS) throw new BadInputError(`"ids" holds at most ${MAX_CUSTOMER_IDS} ids per call (got ${ids.length})`, 'ids');
  return { ids, asOf: asOf ? checkInstant('asOf', asOf) : now };
}

@Resolver()
export class CustomersResolver {
  @Query(() => CustomerStats, { nullable: true, description: 'Null when no event names this customer as of asOf.' })
  customer(
    @Arg('id', () => String) id: string,
    @Arg('asOf', () => DateTimeScalar, { nullable: true }) asOf: Date | null,
    @Ctx() ctx: Context,
  ): Promise<CustomerStats | null> {
    return ctx.loaders.customerStats(asOf ? checkInstant('asOf', asOf) : ctx.now()).load(id);
  }

  @Query(() => [CustomerStats], { nullable: 'items', description: 'In the order of ids; null for unknown ids.' })
  customers(
    @Arg('ids', () => [String]) ids: string[],
    @Arg('asOf', () => DateTimeScalar, { nullable: true }) asOf: Date | null,
    @Ctx() ctx: Context,
  ): Promise<(CustomerStats | null)[]> {
    const list = resolveCustomerList(ids, asOf, ctx.now());
    return ctx.loaders.customerStats(list.asOf).loadMany(list.ids) as Promise<(CustomerStats | null)[]>;
  }
}
