import { Field, ObjectType, registerEnumType, type ClassType } from 'type-graphql';
import { Breakdown } from '../loaders/breakdown.sql.js';

registerEnumType(Breakdown, {
  name: 'Breakdown',
  description: 'How a `…By` field splits customers: by their latest profile, referral, latest NPS response or loyalty tier as of asOf.',
  valuesConfig: {
    COUNTRY: { description: "The latest profile's country." },
    CHANNEL: { description: "The latest profile's acquisition channel." },
    SEGMENT: { description: "The latest profile's segment." },
    REFERRED: { description: 'Keys `referred` (acquired by a converted referral) and `organic`.' },
    NPS_GROUP: { description: 'Keys `promoter`, `passive`, `detractor`: the latest NPS response, of any survey.' },
    LOYALTY_TIER: { description: 'The loyalty tier held as of asOf (spec section 14); non-members and members without a tier have key null.' },
  },
});

/**
 * `<Result>Group { key, value }` (spec section 13): one group of a breakdown, its value the
 * KPI's own result type (a list of it when the KPI answers a list).
 */
export function groupOf(result: ClassType, list = false): ClassType {
  @ObjectType(`${result.name}Group`, { description: `One group of a breakdown: the ${result.name} of its customers.` })
  class Group {
    @Field(() => String, { nullable: true, description: 'The group: a profile value, referred/organic, promoter/passive/detractor; null for customers without one.' })
    key!: string | null;

    @Field(() => (list ? [result] : result))
    value!: unknown;
  }
  return Group;
}
