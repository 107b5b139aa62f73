import type { ClickHouseSettings } from '@clickhouse/client';
import DataLoader from 'dataloader';
import { LRUCache } from 'lru-cache';
import { chunkByBytes, type Executor, type QueryContext } from '../server/storage/executor.js';
import { BadInputError, UnreachableCaseError } from './errors.js';
import { backtestHoldout, type BacktestResult, type HoldoutRow } from '../server/clv-model/backtest.js';
import { expectedPurchases, fitBgNbd, probabilityAlive, type BgNbdParams, type RfmTuple } from '../server/clv-model/bgnbd.js';
import { predictedClv } from '../server/clv-model/clv.js';
import { expectedAverageOrderValue, fitGammaGamma, type GammaGammaParams, type MonetaryRow } from '../server/clv-model/gamma-gamma.js';
import { ModelFitError } from '../server/clv-model/optimize.js';
import { atRiskSql, customerRfmSql, rfmTuplesSql, type AtRiskArgs, type RfmScope } from './clv-model.sql.js';
import { argsKey, kpiLoader } from './kpi-loader.js';
import { fromChDateTime, toChDateTime } from './sql.js';
import { storeVersionSql } from './store-version.sql.js';

export enum TimeUnit {
  DAY = 'DAY',
  WEEK = 'WEEK',
}

export function daysPerUnit(unit: TimeUnit): number {
  switch (unit) {
    case TimeUnit.DAY:
      return 1;
    case TimeUnit.WEEK:
      return 7;
    default:
      throw new UnreachableCaseError(unit);
  }
}

/** Below this many repeat customers a spend distribution across customers is not worth fitting. */
export const MIN_REPEAT_CUSTOMERS = 10;
const DAY_MS = 86_400_000;

export interface ClvModelArgs extends RfmScope {
  timeUnit: TimeUnit;
}

export interface BacktestReport extends BacktestResult {
  /** Holdout length in the model's time unit (whole UTC days from calibration end to holdout end). */
  holdoutLength: number;
  /** (predicted − actual) / actual over all customers; null when nobody bought in the holdout. */
  relativeError: number | null;
}

export interface ClvModel {
  calibrationEnd: Date;
  holdoutEnd: Date | null;
  timeUnit: TimeUnit;
  currency: string;
  customers: number;
  uniqueSummaries: number;
  bgnbd: BgNbdParams & { logLikelihood: number };
  gammaGamma: (GammaGammaParams & { logLikelihood: number; repeatCustomers: number }) | null;
  gammaGammaUnavailableReason: string | null;
  backtest: BacktestReport | null;
}

export interface CustomerPrediction {
  customerId: string;
  frequency: number;
  recency: number;
  T: number;
  monetaryValue: number | null;
  probabilityAlive: number;
  expectedPurchases: number;
  expectedAverageOrderValue: number | null;
  predictedClv: number | null;
}

export interface PredictionArgs {
  calibrationEnd: Date;
  timeUnit: TimeUnit;
  currency: string;
  horizon: number;
  discountRate: number;
  margin: number;
}

export interface AtRiskCustomer {
  customerId: string;
  historicalRevenue: number;
  orders: number;
  frequency: number;
  /** Weeks. */
  recency: number;
  T: number;
  lastPurchaseAt: Date;
  probabilityAlive: number;
  valueAtRisk: number;
}

export interface AtRiskList {
  calibrationEnd: Date;
  currency: string;
  maxProbabilityAlive: number;
  totalCount: number;
  customers: AtRiskCustomer[];
}

/** Per calibration frequency: [recency days, T days, holdout days, customers] and [spend, customers]. */
type TupleRow = { frequency: number; tuples: [number, number, number, number][]; spend: [number, number][] };
type CustomerRow = { customer_id: string; frequency: number; recency_days: number; t_days: number; monetary: number };
type VersionRow = { table: string; rows: string; block: string; version: string };

// Process-wide, shared by all requests: a fit of a million customers takes seconds, and its result
// only changes when purchases do. Promises are stored so concurrent requests share one fit.
const cache = new LRUCache<string, Promise<unknown>>({ max: 16 });

/**
 * The shared computation runs detached from the request that started it (no abort signal): if
 * that client leaves, the others waiting on the same key still get their answer. Each caller
 * stops waiting when its own request is aborted.
 */
function cached<T>(key: string, ctx: QueryContext, compute: (detached: QueryContext) => Promise<T>): Promise<T> {
  let pending = cache.get(key) as Promise<T> | undefined;
  if (!pending) {
    const started = compute({ requestId: ctx.requestId });
    pending = started;
    cache.set(key, started);
    started.catch(() => {
      if (cache.get(key) === started) cache.delete(key);
    });
  }
  return untilAborted(pending, ctx.signal);
}

function untilAborted<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const stop = () => reject(signal.reason);
    signal.addEventListener('abort', stop, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', stop));
  });
}

// Purchases are sorted by customer: read in that order, the per-customer GROUP BY streams
// instead of holding every customer's (day, amount) array in one hash table.
const IN_ORDER: ClickHouseSettings = { optimize_aggregation_in_order: 1 };

const utcDay = (d: Date): number => Math.floor(d.getTime() / DAY_MS);

function fitModel(rows: readonly TupleRow[], a: ClvModelArgs): Omit<ClvModel, 'calibrationEnd' | 'holdoutEnd'> {
  const unit = daysPerUnit(a.timeUnit);
  const tuples = new Map<string, RfmTuple>();
  const spend: MonetaryRow[] = [];
  let customers = 0;
  for (const { frequency, tuples: summaries, spend: values } of rows) {
    for (const [recencyDays, tDays, , n] of summaries) {
      customers += n;
      const key = `${frequency}|${recencyDays}|${tDays}`;
      const tuple = tuples.get(key);
      if (tuple) tuple.count += n;
      else tuples.set(key, { frequency, recency: recencyDays / unit, T: tDays / unit, count: n });
    }
    for (const [monetaryValue, count] of values) spend.push({ frequency, monetaryValue, count });
  }
  let bg;
  try {
    bg = fitBgNbd([...tuples.values()]);
  } catch (e) {
    if (!(e instanceof ModelFitError)) throw e;
    throw new BadInputError(
      `No BG/NBD model for ${a.currency} purchases up to ${a.calibrationEnd.toISOString()} (${customers} customers): ${e.message}. Choose a later calibrationEnd.`,
      'calibrationEnd',
    );
  }
  const { gammaGamma, gammaGammaUnavailableReason } = fitSpend(spend);
  return {
    timeUnit: a.timeUnit,
    currency: a.currency,
    customers,
    uniqueSummaries: tuples.size,
    bgnbd: { ...bg.params, logLikelihood: bg.logLikelihood },
    gammaGamma,
    gammaGammaUnavailableReason,
    backtest: a.holdoutEnd ? backtest(bg.params, rows, (utcDay(a.holdoutEnd) - utcDay(a.calibrationEnd)) / unit, unit) : null,
  };
}

function fitSpend(rows: MonetaryRow[]): Pick<ClvModel, 'gammaGamma' | 'gammaGammaUnavailableReason'> {
  const repeatCustomers = rows.reduce((s, r) => s + r.count, 0);
  const unavailable = (reason: string) => ({ gammaGamma: null, gammaGammaUnavailableReason: reason });
  if (repeatCustomers < MIN_REPEAT_CUSTOMERS) {
    return unavailable(`Gamma-Gamma needs at least ${MIN_REPEAT_CUSTOMERS} repeat customers with a positive repeat spend (found ${repeatCustomers})`);
  }
  try {
    const { params, logLikelihood } = fitGammaGamma(rows);
    // With q <= 1 the population's mean order value p·v/(q−1) is infinite: no usable spend forecast.
    if (params.q <= 1) return unavailable(`Gamma-Gamma fitted q = ${params.q.toFixed(3)} <= 1: the mean order value is unbounded`);
    return { gammaGamma: { ...params, logLikelihood, repeatCustomers }, gammaGammaUnavailableReason: null };
  } catch (e) {
    if (e instanceof ModelFitError) return unavailable(e.message);
    throw e;
  }
}

function backtest(params: BgNbdParams, rows: readonly TupleRow[], holdoutLength: number, unit: number): BacktestReport {
  const holdout: HoldoutRow[] = rows.flatMap(({ frequency, tuples }) =>
    tuples.map(([recencyDays, tDays, holdoutPurchases, count]) => ({ frequency, recency: recencyDays / unit, T: tDays / unit, count, holdoutPurchases })),
  );
  const result = backtestHoldout(params, holdout, holdoutLength);
  const { actualMean, predictedMean } = result.total;
  const relativeError = actualMean === null || predictedMean === null || actualMean === 0 ? null : (predictedMean - actualMean) / actualMean;
  return { ...result, holdoutLength, relativeError };
}

async function dataVersion(exec: Executor, ctx: QueryContext): Promise<VersionRow[]> {
  return exec.rows<VersionRow>(storeVersionSql(['purchases', 'refunds'], exec.storage.cluster), ctx);
}

/**
 * The cache key names what the model depends on and nothing finer: T counts whole days, so two
 * calibration ends on the same UTC day over the same purchases give the same model (which is
 * what lets a defaulted "now" hit the cache). Any write to purchases or refunds starts a new model.
 */
function modelKey(exec: Executor, a: ClvModelArgs, version: VersionRow[]): string {
  return argsKey({
    kind: 'clvModel',
    db: exec.database,
    calibrationDay: utcDay(a.calibrationEnd),
    holdoutDay: a.holdoutEnd ? utcDay(a.holdoutEnd) : null,
    currency: a.currency,
    timeUnit: a.timeUnit,
    version,
  });
}

async function modelAt(exec: Executor, ctx: QueryContext, a: ClvModelArgs, version: VersionRow[]): Promise<ClvModel> {
  const model = await cached(modelKey(exec, a, version), ctx, async (detached) => fitModel(await exec.rows<TupleRow>(rfmTuplesSql(a), detached, IN_ORDER), a));
  return { ...model, calibrationEnd: a.calibrationEnd, holdoutEnd: a.holdoutEnd };
}

export async function runClvModel(exec: Executor, ctx: QueryContext, a: ClvModelArgs): Promise<ClvModel> {
  return modelAt(exec, ctx, a, await dataVersion(exec, ctx));
}

/** Calibration summaries of one batch of customers, in whole days; null for customers without a calibration purchase. */
export async function runCustomerRfm(
  exec: Executor,
  ctx: QueryContext,
  s: Omit<RfmScope, 'holdoutEnd'>,
  ids: readonly string[],
): Promise<(CustomerRow | null)[]> {
  const byId = new Map<string, CustomerRow>();
  // A batch gathers the ids of every alias: split by bytes like customers(ids).
  for (const chunk of chunkByBytes([...new Set(ids)], (id) => id)) {
    for (const r of await exec.rows<CustomerRow>(customerRfmSql(s, chunk), ctx)) byId.set(r.customer_id, r);
  }
  return ids.map((id) => byId.get(id) ?? null);
}

function predict(model: ClvModel, row: CustomerRow, a: PredictionArgs): CustomerPrediction {
  const unit = daysPerUnit(a.timeUnit);
  const { frequency } = row;
  const [recency, T] = [row.recency_days / unit, row.t_days / unit];
  const gg = model.gammaGamma;
  return {
    customerId: row.customer_id,
    frequency,
    recency,
    T,
    monetaryValue: frequency > 0 ? row.monetary : null,
    probabilityAlive: probabilityAlive(model.bgnbd, frequency, recency, T),
    expectedPurchases: expectedPurchases(model.bgnbd, a.horizon, frequency, recency, T),
    expectedAverageOrderValue: gg ? expectedAverageOrderValue(gg, frequency, row.monetary) : null,
    predictedClv: gg ? predictedClv(model.bgnbd, gg, { frequency, recency, T, monetaryValue: row.monetary }, a) : null,
  };
}

async function runAtRisk(exec: Executor, ctx: QueryContext, a: AtRiskArgs): Promise<AtRiskList> {
  // P(alive) does not depend on the time unit the model is fitted in; weeks it is.
  const scope = { calibrationEnd: a.calibrationEnd, holdoutEnd: null, currency: a.currency };
  const version = await dataVersion(exec, ctx);
  const model = await modelAt(exec, ctx, { ...scope, timeUnit: TimeUnit.WEEK }, version);
  const { calibrationEnd: _exact, ...rest } = a;
  const key = argsKey({ kind: 'atRisk', db: exec.database, calibrationDay: utcDay(a.calibrationEnd), ...rest, version });
  type Row = Omit<CustomerRow, 'monetary'> & { revenue: string; orders: number; last_at: string; p_alive: number; value_at_risk: number; total: number };
  const rows = await cached(key, ctx, (detached) => exec.rows<Row>(atRiskSql(a, model.bgnbd), detached, IN_ORDER));
  return {
    calibrationEnd: a.calibrationEnd,
    currency: a.currency,
    maxProbabilityAlive: a.maxProbabilityAlive,
    totalCount: rows[0]?.total ?? 0,
    customers: rows.map((r) => ({
      customerId: r.customer_id,
      historicalRevenue: Number(r.revenue),
      orders: r.orders,
      frequency: r.frequency,
      recency: r.recency_days / 7,
      T: r.t_days / 7,
      lastPurchaseAt: fromChDateTime(r.last_at),
      probabilityAlive: r.p_alive,
      valueAtRisk: r.value_at_risk,
    })),
  };
}

export function clvModelLoaders(exec: Executor, ctx: QueryContext) {
  const model = kpiLoader((a: ClvModelArgs) => runClvModel(exec, ctx, a));
  // One batch per calibration scope: every customerPredictions of a document over the same
  // calibrationEnd and currency shares one SQL, whatever their horizon, unit or margin.
  const rfm = new Map<string, DataLoader<string, CustomerRow | null>>();
  const rfmLoader = (s: Omit<RfmScope, 'holdoutEnd'>) => {
    const key = `${toChDateTime(s.calibrationEnd)}|${s.currency}`;
    let loader = rfm.get(key);
    if (!loader) {
      loader = new DataLoader((ids: readonly string[]) => runCustomerRfm(exec, ctx, s, ids), { maxBatchSize: 10_000 });
      rfm.set(key, loader);
    }
    return loader;
  };
  const predictions = new Map<string, DataLoader<string, CustomerPrediction | null>>();
  return {
    clvModel: model,
    customerPredictions(a: PredictionArgs): DataLoader<string, CustomerPrediction | null> {
      const key = argsKey(a);
      let loader = predictions.get(key);
      if (!loader) {
        loader = new DataLoader(async (ids: readonly string[]) => {
          const scope = { calibrationEnd: a.calibrationEnd, currency: a.currency };
          const [fitted, rows] = await Promise.all([
            model.load({ ...scope, holdoutEnd: null, timeUnit: a.timeUnit }),
            rfmLoader(scope).loadMany(ids),
          ]);
          return rows.map((row) => {
            if (row instanceof Error) return row;
            return row ? predict(fitted, row, a) : null;
          });
        });
        predictions.set(key, loader);
      }
      return loader;
    },
    atRiskCustomers: kpiLoader((a: AtRiskArgs) => runAtRisk(exec, ctx, a)),
  };
}
