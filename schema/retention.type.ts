import { Field, Float, Int, ObjectType } from 'type-graphql';
import { Grain } from '../loaders/grain.js';
import { groupOf } from './breakdown.type.js';
import { PageInfo } from './kpi-snapshots.type.js';
import { DateTimeScalar } from './scalars.js';

@ObjectType({ description: 'One offset of a cohort: customers of the cohort active in that period.' })
export class RetentionCell {
  @Field(() => Int) offset!: number;
  @Field(() => DateTimeScalar) periodStart!: Date;
  @Field(() => Int) retained!: number;
  @Field(() => Float, { nullable: true }) rate!: number | null;
  @Field(() => Float, { nullable: true, description: 'Lower bound of the 95% Wilson interval of rate.' }) rateLow!: number | null;
  @Field(() => Float, { nullable: true, description: 'Upper bound of the 95% Wilson interval of rate.' }) rateHigh!: number | null;
  @Field(() => Int, { description: 'Active in this period or any later one up to asOf.' }) retainedOrLater!: number;
  @Field(() => Float, { nullable: true }) rateOrLater!: number | null;
  @Field(() => Boolean, { description: 'False for the period that contains asOf.' }) complete!: boolean;
}

@ObjectType()
export class RetentionCohort {
  @Field(() => DateTimeScalar) cohortStart!: Date;
  @Field(() => Int) size!: number;
  @Field(() => [RetentionCell]) cells!: RetentionCell[];
}

@ObjectType({ description: 'Size-weighted average over the cohorts that have a cell at this offset.' })
export class RetentionAverageCell {
  @Field(() => Int) offset!: number;
  @Field(() => Int, { description: 'Cohorts contributing to this offset.' }) cohorts!: number;
  @Field(() => Int, { description: 'Customers in those cohorts.' }) size!: number;
  @Field(() => Int) retained!: number;
  @Field(() => Float, { nullable: true }) rate!: number | null;
  @Field(() => Float, { nullable: true }) rateLow!: number | null;
  @Field(() => Float, { nullable: true }) rateHigh!: number | null;
  @Field(() => Int) retainedOrLater!: number;
  @Field(() => Float, { nullable: true }) rateOrLater!: number | null;
}

@ObjectType()
export class RetentionCohorts {
  @Field(() => Grain) grain!: Grain;
  @Field(() => [RetentionCohort]) cohorts!: RetentionCohort[];
  @Field(() => [RetentionAverageCell]) average!: RetentionAverageCell[];
}

@ObjectType()
export class PeriodRetention {
  @Field(() => DateTimeScalar) periodStart!: Date;
  @Field(() => Int) previousCustomers!: number;
  @Field(() => Int) retainedCustomers!: number;
  @Field(() => Float, { nullable: true }) rate!: number | null;
  @Field(() => Float, { nullable: true }) churnRate!: number | null;
}

@ObjectType({ description: 'Period retention with the pooled figure: sum(retained) / sum(previous).' })
export class PeriodRetentionSummary {
  @Field(() => [PeriodRetention]) periods!: PeriodRetention[];
  @Field(() => Int) previousCustomers!: number;
  @Field(() => Int) retainedCustomers!: number;
  @Field(() => Float, { nullable: true }) pooledRate!: number | null;
  @Field(() => Float, { nullable: true }) pooledChurnRate!: number | null;
}

export const RetentionCohortsGroup = groupOf(RetentionCohorts);
export const PeriodRetentionGroup = groupOf(PeriodRetention, true);

@ObjectType({ description: 'A page of the customer ids of one retentionCohorts cell, ascending.' })
export class CohortCustomers {
  @Field(() => [String]) customerIds!: string[];
  @Field(() => PageInfo) pageInfo!: PageInfo;
}
