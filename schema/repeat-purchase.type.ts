import { Field, Float, Int, ObjectType } from 'type-graphql';
import { groupOf } from './breakdown.type.js';

@ObjectType()
export class RepeatPurchase {
  @Field(() => Int) customers!: number;
  @Field(() => Int) repeatCustomers!: number;
  @Field(() => Int) orders!: number;
  @Field(() => Float, { nullable: true }) rate!: number | null;
  @Field(() => Float, { nullable: true, description: 'Lower bound of the 95% Wilson interval of rate.' }) rateLow!: number | null;
  @Field(() => Float, { nullable: true, description: 'Upper bound of the 95% Wilson interval of rate.' }) rateHigh!: number | null;
  @Field(() => Float, { nullable: true }) averageOrdersPerCustomer!: number | null;
}

export const RepeatPurchaseGroup = groupOf(RepeatPurchase);
