import { Field, ID, Int, ObjectType } from 'type-graphql';
import { DateTimeScalar } from './scalars.js';

@ObjectType({ description: 'A customer erasure (spec section 16): its counts, never the ids.' })
export class Erasure {
  @Field(() => ID) id!: string;
  @Field(() => DateTimeScalar, { description: 'When it took effect: replayed events of its customers dated before it are rejected.' })
  erasedAt!: Date;
  @Field(() => Int, { description: 'Distinct customer ids erased.' })
  customers!: number;
  @Field(() => Int, { description: 'Events deleted, of every type (referral events naming them as referrer or referred customer included).' })
  events!: number;
}
