import { ArgsType, Field, Float, Int, ObjectType } from 'type-graphql';
import { FilteredWindowArgs } from './common.args.js';

@ArgsType()
export class LoyaltyProgramArgs extends FilteredWindowArgs {
  @Field(() => String, { nullable: true, description: 'ISO 4217 for revenue; default REPORTING_CURRENCY, else USD.' })
  currency?: string | null;
}

const ACTIVE_RATE = 'activeCustomers / customers; null when the group is empty.';

@ObjectType({ description: 'Customers with an order before `from`, in one group by their loyalty status at `from`; figures over [from, min(to, asOf)).' })
export class LoyaltyGroup {
  @Field(() => Int) customers!: number;
  @Field(() => Int, { description: 'Customers with at least one order in the window.' }) activeCustomers!: number;
  @Field(() => Float, { nullable: true, description: ACTIVE_RATE }) activeRate!: number | null;
  @Field(() => Float, { nullable: true, description: 'Lower bound of the 95% Wilson interval of activeRate.' }) activeRateLow!: number | null;
  @Field(() => Float, { nullable: true, description: 'Upper bound of the 95% Wilson interval of activeRate.' }) activeRateHigh!: number | null;
  @Field(() => Int, { description: 'Orders in the window, every currency.' }) orders!: number;
  @Field(() => Float, { nullable: true }) ordersPerCustomer!: number | null;
  @Field(() => Float, { nullable: true, description: 'Net revenue in `currency` in the window / customers.' }) revenuePerCustomer!: number | null;
}

@ObjectType({ description: 'The members holding one tier at `from`, with the figures of LoyaltyGroup.' })
export class LoyaltyTierGroup extends LoyaltyGroup {
  @Field(() => String) tier!: string;
}

@ObjectType({ description: 'Loyalty program figures (spec section 14); e = min(to, asOf).' })
export class LoyaltyProgram {
  @Field(() => Int, { description: 'Members at e.' }) members!: number;
  @Field(() => Int, { description: 'JOINED events in [from, e).' }) joined!: number;
  @Field(() => Int, { description: 'LEFT events in [from, e).' }) left!: number;
  @Field(() => Float, { description: 'Points earned in [from, e) (an exact integer).' }) pointsEarned!: number;
  @Field(() => Float, { description: 'Points redeemed in [from, e) (an exact integer).' }) pointsRedeemed!: number;
  @Field(() => Float, { nullable: true, description: 'pointsRedeemed / pointsEarned.' }) redemptionRate!: number | null;
  @Field(() => Float, { description: 'Every point earned minus every point redeemed at or before e.' }) pointsOutstanding!: number;
  @Field(() => LoyaltyGroup) memberGroup!: LoyaltyGroup;
  @Field(() => LoyaltyGroup) nonMemberGroup!: LoyaltyGroup;
  @Field(() => Float, { nullable: true, description: 'memberGroup.activeRate - nonMemberGroup.activeRate; null when a group is empty.' })
  activeRateDifference!: number | null;
  @Field(() => Float, { nullable: true, description: "Lower bound of the difference's 95% interval (Newcombe's method 10)." }) activeRateDifferenceLow!: number | null;
  @Field(() => Float, { nullable: true, description: "Upper bound of the difference's 95% interval (Newcombe's method 10)." }) activeRateDifferenceHigh!: number | null;
  @Field(() => [LoyaltyTierGroup], { description: 'Per tier held at `from`, members with a tier only, ordered by tier.' }) tiers!: LoyaltyTierGroup[];
}
