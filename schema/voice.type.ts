import { ArgsType, Field, Float, Int, ObjectType } from 'type-graphql';
import { groupOf } from './breakdown.type.js';
import { FilteredWindowArgs, PeriodArgs } from './common.args.js';
import { DateTimeScalar } from './scalars.js';

@ArgsType()
export class VoiceArgs extends PeriodArgs {
  @Field(() => String, { nullable: true, description: 'Only responses to this survey; default: every survey of the kind.' })
  surveyId?: string | null;
}

@ArgsType()
export class NpsImpactArgs extends FilteredWindowArgs {
  @Field(() => String, { nullable: true, description: 'Only responses to this survey; default: every NPS survey.' })
  surveyId?: string | null;

  @Field(() => String, { nullable: true, description: "Currency of revenuePerCustomer; default REPORTING_CURRENCY, else USD." })
  currency?: string | null;
}

@ObjectType({ description: 'NPS responses in one period (by grain and timezone).' })
export class NpsPoint {
  @Field(() => DateTimeScalar) periodStart!: Date;
  @Field(() => Int) responses!: number;
  @Field(() => Int, { description: 'Scores 9-10.' }) promoters!: number;
  @Field(() => Int, { description: 'Scores 7-8.' }) passives!: number;
  @Field(() => Int, { description: 'Scores 0-6.' }) detractors!: number;
  @Field(() => Float, { nullable: true, description: '100 x (promoters - detractors) / responses.' }) score!: number | null;
}

@ObjectType()
export class NpsReport {
  @Field(() => Int) responses!: number;
  @Field(() => Int, { description: 'Scores 9-10.' }) promoters!: number;
  @Field(() => Int, { description: 'Scores 7-8.' }) passives!: number;
  @Field(() => Int, { description: 'Scores 0-6.' }) detractors!: number;
  @Field(() => Float, { nullable: true, description: '100 x (promoters - detractors) / responses, -100..100; null without responses.' }) score!: number | null;
  @Field(() => Float, { nullable: true, description: '95% margin of error of score, in points; null under 2 responses.' }) marginOfError!: number | null;
  @Field(() => [NpsPoint], { description: 'Periods with at least one response, oldest first.' }) series!: NpsPoint[];
}

@ObjectType({ description: 'CSAT responses in one period (by grain and timezone).' })
export class CsatPoint {
  @Field(() => DateTimeScalar) periodStart!: Date;
  @Field(() => Int) responses!: number;
  @Field(() => Int, { description: 'Scores 4-5.' }) satisfied!: number;
  @Field(() => Float, { nullable: true, description: '100 x satisfied / responses.' }) score!: number | null;
}

@ObjectType()
export class CsatReport {
  @Field(() => Int) responses!: number;
  @Field(() => Int, { description: 'Scores 4-5.' }) satisfied!: number;
  @Field(() => Float, { nullable: true, description: '100 x satisfied / responses, 0..100; null without responses.' }) score!: number | null;
  @Field(() => [CsatPoint], { description: 'Periods with at least one response, oldest first.' }) series!: CsatPoint[];
}

@ObjectType({ description: 'Purchase behaviour, up to asOf, of the customers in one NPS bucket.' })
export class NpsBucketBehaviour {
  @Field(() => Int) customers!: number;
  @Field(() => Int, { description: 'Customers with 2 or more purchases up to asOf.' }) repeatCustomers!: number;
  @Field(() => Float, { nullable: true }) repeatRate!: number | null;
  @Field(() => Float, { nullable: true, description: 'Revenue in currency up to asOf / customers.' }) revenuePerCustomer!: number | null;
  @Field(() => Float, { nullable: true, description: 'Purchases (all currencies) up to asOf / customers.' }) ordersPerCustomer!: number | null;
}

@ObjectType({ description: 'Customers bucketed by their latest NPS response in the window.' })
export class NpsImpact {
  @Field(() => String) currency!: string;
  @Field(() => NpsBucketBehaviour) promoters!: NpsBucketBehaviour;
  @Field(() => NpsBucketBehaviour) passives!: NpsBucketBehaviour;
  @Field(() => NpsBucketBehaviour) detractors!: NpsBucketBehaviour;
}

export const NpsReportGroup = groupOf(NpsReport);
export const CsatReportGroup = groupOf(CsatReport);
