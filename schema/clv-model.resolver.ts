import { Arg, Args, ArgsType, Ctx, Field, Float, Int, Query, Resolver } from 'type-graphql';
import { checkFirst, checkInstant, checkMargin } from '../loaders/args.js';
import { daysPerUnit, TimeUnit, type CustomerPrediction as Prediction } from '../loaders/clv-model.loader.js';
import { resolveCurrency } from '../loaders/reporting-currency.js';
import type { AtRiskArgs } from '../loaders/clv-model.sql.js';
import type { Context } from './context.js';
import { BadInputError } from '../loaders/errors.js';
import { AtRiskCustomers, ClvModel, CustomerPrediction } from './clv-model.type.js';
import { DateTimeScalar } from './scalars.js';

const MAX_IDS = 1000;
const MAX_HORIZON_DAYS = 3660;
const MAX_AT_RISK = 1000;

@ArgsType()
export class AtRiskCustomersArgs {
  @Field(() => Int, { nullable: true, defaultValue: 50 })
  first?: number | null;

  @Field(() => Float, { nullable: true, description: 'Minimum revenue up to calibrationEnd; default 0.' })
  minHistoricalValue?: number | null;

  @Field(() => DateTimeScalar, { nullable: true, description: 'Default: now.' })
  calibrationEnd?: Date | null;

  @Field(() => String, { nullable: true, description: "ISO 4217; default REPORTING_CURRENCY, else USD." })
  currency?: string | null;

  @Field(() => Float, { nullable: true, defaultValue: 0.5, description: 'Listed when P(alive) is below this.' })
  maxProbabilityAlive?: number | null;
}

/** atRiskCustomers' arguments checked, before any SQL; the CSV export (server/export-routes.ts) takes the same. */
export async function resolveAtRisk(a: AtRiskCustomersArgs, ctx: Context): Promise<AtRiskArgs> {
  const first = checkFirst(a.first ?? 50, MAX_AT_RISK);
  const maxProbabilityAlive = a.maxProbabilityAlive ?? 0.5;
  const minValue = a.minHistoricalValue ?? 0;
  if (!Number.isFinite(minValue) || minValue < 0) throw new BadInputError(`"minHistoricalValue" must be >= 0 (got ${minValue})`, 'minHistoricalValue');
  if (!(maxProbabilityAlive > 0 && maxProbabilityAlive <= 1)) {
    throw new BadInputError(`"maxProbabilityAlive" must be in (0, 1] (got ${maxProbabilityAlive})`, 'maxProbabilityAlive');
  }
  return {
    calibrationEnd: a.calibrationEnd ? checkInstant('calibrationEnd', a.calibrationEnd) : ctx.now(),
    currency: await resolveCurrency(a.currency ?? null, ctx),
    first,
    minHistoricalValue: minValue,
    maxProbabilityAlive,
  };
}

function checkHoldout(calibrationEnd: Date, holdoutEnd: Date | null): Date | null {
  if (holdoutEnd) checkInstant('holdoutEnd', holdoutEnd, 'end');
  // The backtest's holdout is counted in whole UTC days, so it must reach into a later day.
  if (holdoutEnd && Math.floor(holdoutEnd.getTime() / 86_400_000) <= Math.floor(calibrationEnd.getTime() / 86_400_000)) {
    throw new BadInputError(`"holdoutEnd" (${holdoutEnd.toISOString()}) must fall on a later UTC day than "calibrationEnd" (${calibrationEnd.toISOString()})`, 'holdoutEnd');
  }
  return holdoutEnd;
}

function checkHorizon(horizon: number, unit: TimeUnit): number {
  const max = Math.floor(MAX_HORIZON_DAYS / daysPerUnit(unit));
  if (!Number.isInteger(horizon) || horizon < 0 || horizon > max) {
    throw new BadInputError(`"horizon" must be a whole number of ${unit === TimeUnit.WEEK ? 'weeks' : 'days'} from 0 to ${max} (got ${horizon})`, 'horizon');
  }
  return horizon;
}

function checkDiscountRate(rate: number): number {
  if (!Number.isFinite(rate) || rate < 0 || rate >= 1) throw new BadInputError(`"discountRate" must be a rate per time unit from 0 to below 1 (got ${rate})`, 'discountRate');
  return rate;
}

@Resolver()
export class ClvModelResolver {
  @Query(() => ClvModel, { description: 'BG/NBD and Gamma-Gamma fitted on purchases up to calibrationEnd (required), with a holdout backtest when holdoutEnd is given.' })
  async clvModel(
    @Arg('calibrationEnd', () => DateTimeScalar, { description: 'Purchases with occurredAt <= calibrationEnd are the calibration data.' }) calibrationEnd: Date,
    @Arg('holdoutEnd', () => DateTimeScalar, { nullable: true, description: 'Holdout = (calibrationEnd, holdoutEnd].' }) holdoutEnd: Date | null,
    @Arg('timeUnit', () => TimeUnit, { nullable: true, defaultValue: TimeUnit.WEEK }) unit: TimeUnit | null,
    @Arg('currency', () => String, { nullable: true, description: "ISO 4217; default REPORTING_CURRENCY, else USD. Only purchases in it count." }) currency: string | null,
    @Ctx() ctx: Context,
  ): Promise<ClvModel> {
    return ctx.loaders.clvModel.load({
      calibrationEnd: checkInstant('calibrationEnd', calibrationEnd),
      holdoutEnd: checkHoldout(calibrationEnd, holdoutEnd ?? null),
      timeUnit: unit ?? TimeUnit.WEEK,
      currency: await resolveCurrency(currency, ctx),
    });
  }

  @Query(() => [CustomerPrediction], { nullable: 'items', description: 'In the order of ids; null for customers without a purchase in the currency up to calibrationEnd.' })
  async customerPredictions(
    @Arg('ids', () => [String]) ids: string[],
    @Arg('horizon', () => Int, { description: 'Whole time units ahead.' }) horizon: number,
    @Arg('calibrationEnd', () => DateTimeScalar, { nullable: true, description: 'Default: now.' }) calibrationEnd: Date | null,
    @Arg('timeUnit', () => TimeUnit, { nullable: true, defaultValue: TimeUnit.WEEK }) unit: TimeUnit | null,
    @Arg('discountRate', () => Float, { nullable: true, description: 'Per time unit; default 0.' }) discountRate: number | null,
    @Arg('margin', () => Float, { nullable: true, description: 'Gross margin in [0, 1]; default GROSS_MARGIN.' }) margin: number | null,
    @Arg('currency', () => String, { nullable: true, description: "ISO 4217; default REPORTING_CURRENCY, else USD." }) currency: string | null,
    @Ctx() ctx: Context,
  ): Promise<(Prediction | null)[]> {
    if (ids.length > MAX_IDS) throw new BadInputError(`At most ${MAX_IDS} ids per call (got ${ids.length})`, 'ids');
    const timeUnit = unit ?? TimeUnit.WEEK;
    const loader = ctx.loaders.customerPredictions({
      calibrationEnd: calibrationEnd ? checkInstant('calibrationEnd', calibrationEnd) : ctx.now(),
      timeUnit,
      currency: await resolveCurrency(currency, ctx),
      horizon: checkHorizon(horizon, timeUnit),
      discountRate: checkDiscountRate(discountRate ?? 0),
      margin: checkMargin(margin ?? ctx.config.grossMargin),
    });
    return loader.loadMany(ids) as Promise<(Prediction | null)[]>;
  }

  @Query(() => AtRiskCustomers, { description: 'Valuable repeat customers the BG/NBD model thinks are probably gone, by revenue at risk.' })
  async atRiskCustomers(@Args(() => AtRiskCustomersArgs) args: AtRiskCustomersArgs, @Ctx() ctx: Context): Promise<AtRiskCustomers> {
    return ctx.loaders.atRiskCustomers.load(await resolveAtRisk(args, ctx));
  }
}
