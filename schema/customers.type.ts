import { Field, Float, Int, ObjectType } from 'type-graphql';
import { DateTimeScalar } from './scalars.js';

@ObjectType()
export class CurrencyAmount {
  @Field(() => String) currency!: string;
  @Field(() => Float) amount!: number;
}

@ObjectType({ description: 'One customer\'s purchase history and latest profile as of asOf.' })
export class CustomerStats {
  @Field(() => String) customerId!: string;
  @Field(() => DateTimeScalar, { nullable: true }) firstPurchaseAt!: Date | null;
  @Field(() => DateTimeScalar, { nullable: true }) lastPurchaseAt!: Date | null;
  @Field(() => Int) orders!: number;
  @Field(() => [CurrencyAmount], { description: 'Revenue per currency, no conversion.' }) revenue!: CurrencyAmount[];
  @Field(() => String, { nullable: true }) country!: string | null;
  @Field(() => String, { nullable: true }) channel!: string | null;
  @Field(() => String, { nullable: true }) segment!: string | null;
}
