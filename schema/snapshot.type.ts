import { Field, Float, Int, ObjectType } from 'type-graphql';
import { Grain } from '../loaders/grain.js';
import { DateTimeScalar } from './scalars.js';

@ObjectType({ description: 'The headline KPIs of one window, each computed by its own KPI query (spec section 9).' })
export class KpiSnapshot {
  @Field(() => DateTimeScalar) from!: Date;
  @Field(() => DateTimeScalar) to!: Date;
  @Field(() => DateTimeScalar) asOf!: Date;
  @Field(() => Grain) grain!: Grain;
  @Field(() => String) currency!: string;
  @Field(() => DateTimeScalar) generatedAt!: Date;
  @Field(() => Int, { description: 'Customers with >= 1 purchase in the window (all currencies).' }) customers!: number;
  @Field(() => Int, { description: 'Customers whose first purchase ever is in the window.' }) newCustomers!: number;
  @Field(() => Int) orders!: number;
  @Field(() => Float, { nullable: true }) repeatPurchaseRate!: number | null;
  @Field(() => Float, { description: 'Net revenue in `currency`: orders not cancelled minus their refunds in the window (spec section 12).' }) revenue!: number;
  @Field(() => Float, { description: 'Refunds in the window, in `currency`, of orders not cancelled.' }) refundAmount!: number;
  @Field(() => Int, { description: 'Purchases in the window, all currencies, cancelled as of asOf.' }) cancelledOrders!: number;
  @Field(() => Float, { nullable: true }) averageOrderValue!: number | null;
  @Field(() => Float, { nullable: true }) clv!: number | null;
  @Field(() => Float, { nullable: true, description: 'Pooled period retention for `grain`.' }) retentionRate!: number | null;
  @Field(() => Float, { nullable: true }) nps!: number | null;
  @Field(() => Float, { nullable: true }) csat!: number | null;
  @Field(() => Float, { nullable: true, description: 'Converted / invited over referrals started in the window.' }) referralConversionRate!: number | null;
  @Field(() => Int, { description: 'Loyalty program members at min(to, asOf) (spec section 14).' }) loyaltyMembers!: number;
  @Field(() => Float, { description: 'Loyalty points earned minus redeemed at or before min(to, asOf), every customer (an exact integer).' }) pointsOutstanding!: number;
}
