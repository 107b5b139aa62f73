import { Arg, Args, ArgsType, Ctx, Field, Float, Query, Resolver, UseMiddleware } from 'type-graphql';
import { Breakdown } from '../loaders/breakdown.sql.js';
import type { Group } from '../loaders/breakdown.js';
import { checkMargin } from '../loaders/args.js';
import { resolveCurrency } from '../loaders/reporting-currency.js';
import type { Context } from './context.js';
import { FilterWarnings, CohortArgs, resolveCohorts } from './common.args.js';
import { ClvReport, ClvReportGroup } from './clv.type.js';

@ArgsType()
export class ClvArgs extends CohortArgs {
  @Field(() => String, { nullable: true, description: "ISO 4217; default REPORTING_CURRENCY, else USD." })
  currency?: string | null;

  @Field(() => Float, { nullable: true, description: 'Gross margin in [0, 1]; default GROSS_MARGIN (1.0).' })
  margin?: number | null;
}

@Resolver()
@UseMiddleware(FilterWarnings)
export class ClvResolver {
  @Query(() => ClvReport, { description: 'Customer lifetime value from the window\'s orders and pooled churn, with cohort revenue curves.' })
  async customerLifetimeValue(@Args(() => ClvArgs) args: ClvArgs, @Ctx() ctx: Context): Promise<ClvReport> {
    return ctx.loaders.clv.load(await resolveClv(args, ctx));
  }

  @Query(() => [ClvReportGroup], { description: 'customerLifetimeValue per group of customers (spec section 13).' })
  async customerLifetimeValueBy(@Args(() => ClvArgs) args: ClvArgs, @Arg('by', () => Breakdown) by: Breakdown, @Ctx() ctx: Context): Promise<Group<ClvReport>[]> {
    return ctx.loaders.clvBy.load({ ...(await resolveClv(args, ctx)), by });
  }
}

async function resolveClv(args: ClvArgs, ctx: Context) {
  return {
    ...resolveCohorts(args, ctx.now()),
    currency: await resolveCurrency(args.currency, ctx),
    margin: checkMargin(args.margin ?? ctx.config.grossMargin),
  };
}
