import { Field, Float, Int, ObjectType } from 'type-graphql';
import { groupOf } from './breakdown.type.js';
import { DateTimeScalar } from './scalars.js';

@ObjectType()
export class ClvCell {
  @Field(() => Int) offset!: number;
  @Field(() => DateTimeScalar) periodStart!: Date;
  @Field(() => Float, { description: 'Revenue of the cohort\'s customers in this period, in the report currency.' }) revenue!: number;
  @Field(() => Float, { nullable: true }) cumulativeRevenuePerCustomer!: number | null;
  @Field(() => Boolean, { description: 'False for the period that contains asOf.' }) complete!: boolean;
}

@ObjectType()
export class ClvCohort {
  @Field(() => DateTimeScalar) cohortStart!: Date;
  @Field(() => Int) size!: number;
  @Field(() => [ClvCell]) cells!: ClvCell[];
}

@ObjectType({ description: 'Historical CLV in one currency: window summary and cohort revenue curves.' })
export class ClvReport {
  @Field(() => String) currency!: string;
  @Field(() => Float) margin!: number;
  @Field(() => Float) revenue!: number;
  @Field(() => Int) orders!: number;
  @Field(() => Int) customers!: number;
  @Field(() => Float, { nullable: true }) averageOrderValue!: number | null;
  @Field(() => Int, { description: 'Distinct (customer, period) pairs over the window\'s purchases in the currency, the period being the grain period (in the time zone) that contains the purchase.' })
  activeCustomerPeriods!: number;
  @Field(() => Float, { nullable: true, description: 'orders / activeCustomerPeriods: orders per active customer per period (definitions version 2).' }) purchaseFrequency!: number | null;
  @Field(() => Float, { nullable: true, description: '1 - pooled period retention over the window (all currencies).' }) churnRate!: number | null;
  @Field(() => Float, { nullable: true }) expectedLifetimePeriods!: number | null;
  @Field(() => Float, { nullable: true }) clv!: number | null;
  @Field(() => [ClvCohort]) cohorts!: ClvCohort[];
}

export const ClvReportGroup = groupOf(ClvReport);
