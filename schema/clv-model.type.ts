import { Field, Float, Int, ObjectType, registerEnumType } from 'type-graphql';
import { TimeUnit } from '../loaders/clv-model.loader.js';
import { DateTimeScalar } from './scalars.js';

registerEnumType(TimeUnit, { name: 'TimeUnit', description: 'Unit of recency, T, alpha and horizons: DAY, or WEEK = days / 7.' });

@ObjectType({ description: 'BG/NBD purchase model: rate ~ Gamma(r, alpha) per time unit, dropout after each purchase ~ Beta(a, b).' })
export class BgNbdModel {
  @Field(() => Float) r!: number;
  @Field(() => Float, { description: 'In the model\'s time unit.' }) alpha!: number;
  @Field(() => Float) a!: number;
  @Field(() => Float) b!: number;
  @Field(() => Float, { description: 'Total over all customers.' }) logLikelihood!: number;
}

@ObjectType({ description: 'Gamma-Gamma order value model, fitted on repeat customers; mean order value p·v/(q−1).' })
export class GammaGammaModel {
  @Field(() => Float) p!: number;
  @Field(() => Float) q!: number;
  @Field(() => Float) v!: number;
  @Field(() => Float) logLikelihood!: number;
  @Field(() => Int, { description: 'Customers with at least one repeat purchase day of positive value in calibration.' }) repeatCustomers!: number;
}

@ObjectType()
export class ClvBacktestBucket {
  @Field(() => String, { description: 'Calibration frequency: "0".."6", "7+", or "all".' }) label!: string;
  @Field(() => Int) customers!: number;
  @Field(() => Float, { nullable: true, description: 'Mean repeat purchase days per customer in the holdout.' }) actualMean!: number | null;
  @Field(() => Float, { nullable: true }) predictedMean!: number | null;
  @Field(() => Float, { nullable: true, description: 'Mean over customers of |actual − predicted|.' }) meanAbsoluteError!: number | null;
}

@ObjectType({ description: 'Holdout purchases predicted from the calibration fit against those that happened.' })
export class ClvBacktest {
  @Field(() => Float, { description: 'Whole UTC days from calibrationEnd to holdoutEnd, in the time unit.' }) holdoutLength!: number;
  @Field(() => [ClvBacktestBucket], { description: 'By calibration frequency 0..6 and 7+.' }) buckets!: ClvBacktestBucket[];
  @Field(() => ClvBacktestBucket) total!: ClvBacktestBucket;
  @Field(() => Float, { nullable: true, description: '(predicted − actual) / actual over all customers.' }) relativeError!: number | null;
}

@ObjectType({ description: 'Predictive CLV models fitted on the store\'s purchases up to calibrationEnd (cached until purchases change).' })
export class ClvModel {
  @Field(() => DateTimeScalar) calibrationEnd!: Date;
  @Field(() => DateTimeScalar, { nullable: true }) holdoutEnd!: Date | null;
  @Field(() => TimeUnit) timeUnit!: TimeUnit;
  @Field(() => String) currency!: string;
  @Field(() => Int, { description: 'Customers with a purchase in this currency up to calibrationEnd.' }) customers!: number;
  @Field(() => Int, { description: 'Distinct (frequency, recency, T) the fit ran on.' }) uniqueSummaries!: number;
  @Field(() => BgNbdModel) bgnbd!: BgNbdModel;
  @Field(() => GammaGammaModel, { nullable: true, description: 'Null when it cannot be fitted; see gammaGammaUnavailableReason.' }) gammaGamma!: GammaGammaModel | null;
  @Field(() => String, { nullable: true }) gammaGammaUnavailableReason!: string | null;
  @Field(() => ClvBacktest, { nullable: true, description: 'Only with holdoutEnd.' }) backtest!: ClvBacktest | null;
}

@ObjectType()
export class CustomerPrediction {
  @Field(() => String) customerId!: string;
  @Field(() => Int, { description: 'Purchase days after the first one, up to calibrationEnd.' }) frequency!: number;
  @Field(() => Float, { description: 'First to last purchase day, in the time unit.' }) recency!: number;
  @Field(() => Float, { description: 'First purchase day to the calibrationEnd day, in the time unit.' }) T!: number;
  @Field(() => Float, { nullable: true, description: 'Mean value of the repeat purchase days; null without repeat purchases.' }) monetaryValue!: number | null;
  @Field(() => Float) probabilityAlive!: number;
  @Field(() => Float, { description: 'Expected purchase days within the horizon.' }) expectedPurchases!: number;
  @Field(() => Float, { nullable: true, description: 'Null when Gamma-Gamma is unavailable.' }) expectedAverageOrderValue!: number | null;
  @Field(() => Float, { nullable: true, description: 'margin · order value · discounted expected purchases; null when Gamma-Gamma is unavailable.' }) predictedClv!: number | null;
}

@ObjectType()
export class AtRiskCustomer {
  @Field(() => String) customerId!: string;
  @Field(() => Float, { description: 'Revenue up to calibrationEnd.' }) historicalRevenue!: number;
  @Field(() => Int) orders!: number;
  @Field(() => Int) frequency!: number;
  @Field(() => Float, { description: 'Weeks.' }) recency!: number;
  @Field(() => Float, { description: 'Weeks.' }) T!: number;
  @Field(() => DateTimeScalar) lastPurchaseAt!: Date;
  @Field(() => Float) probabilityAlive!: number;
  @Field(() => Float, { description: 'historicalRevenue × (1 − probabilityAlive): the ranking key.' }) valueAtRisk!: number;
}

@ObjectType({
  description:
    'Repeat customers with historicalRevenue >= minHistoricalValue whose BG/NBD P(alive) is below maxProbabilityAlive, ' +
    'highest valueAtRisk first. Without a new purchase P(alive) only falls, so every listed customer is slipping away. ' +
    'One-time buyers never appear: BG/NBD lets customers leave only after a repeat purchase.',
})
export class AtRiskCustomers {
  @Field(() => DateTimeScalar) calibrationEnd!: Date;
  @Field(() => String) currency!: string;
  @Field(() => Float) maxProbabilityAlive!: number;
  @Field(() => Int, { description: 'All customers matching, before `first`.' }) totalCount!: number;
  @Field(() => [AtRiskCustomer]) customers!: AtRiskCustomer[];
}
