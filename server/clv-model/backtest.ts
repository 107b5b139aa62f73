import { expectedPurchases, type BgNbdParams, type RfmTuple } from './bgnbd.js';

/** Calibration summary plus the repeat purchases the same `count` customers actually made in the holdout. */
export interface HoldoutRow extends RfmTuple {
  holdoutPurchases: number;
}

/** Customers whose calibration frequency is `label` ('0'…'6', or '7+' for 7 and more). */
export interface BacktestBucket {
  label: string;
  customers: number;
  /** Mean holdout repeat purchases per customer; null when the bucket is empty. */
  actualMean: number | null;
  predictedMean: number | null;
  /** Mean over customers of |actual − predicted|; null when the bucket is empty. */
  meanAbsoluteError: number | null;
}

export interface BacktestResult {
  buckets: BacktestBucket[];
  total: BacktestBucket;
}

// Fader, Hardie & Lee pool the long tail at 7+ so that every bucket holds enough customers to compare means.
const TOP_BUCKET = 7;

interface Tally {
  customers: number;
  actual: number;
  predicted: number;
  absoluteError: number;
}

function toBucket(label: string, t: Tally): BacktestBucket {
  const mean = (sum: number): number | null => (t.customers === 0 ? null : sum / t.customers);
  return {
    label,
    customers: t.customers,
    actualMean: mean(t.actual),
    predictedMean: mean(t.predicted),
    meanAbsoluteError: mean(t.absoluteError),
  };
}

/**
 * Actual against predicted repeat purchases in a holdout of `holdoutLength` time units, by
 * calibration frequency. A bucket whose predicted mean tracks its actual mean shows the model
 * is calibrated for that kind of customer; the absolute error also shows individual accuracy.
 */
export function backtestHoldout(params: BgNbdParams, rows: readonly HoldoutRow[], holdoutLength: number): BacktestResult {
  const tallies = Array.from({ length: TOP_BUCKET + 1 }, (): Tally => ({ customers: 0, actual: 0, predicted: 0, absoluteError: 0 }));
  const total: Tally = { customers: 0, actual: 0, predicted: 0, absoluteError: 0 };
  for (const row of rows) {
    const predicted = expectedPurchases(params, holdoutLength, row.frequency, row.recency, row.T);
    for (const t of [tallies[Math.min(row.frequency, TOP_BUCKET)]!, total]) {
      t.customers += row.count;
      t.actual += row.count * row.holdoutPurchases;
      t.predicted += row.count * predicted;
      t.absoluteError += row.count * Math.abs(row.holdoutPurchases - predicted);
    }
  }
  return {
    buckets: tallies.map((t, i) => toBucket(i === TOP_BUCKET ? `${TOP_BUCKET}+` : String(i), t)),
    total: toBucket('all', total),
  };
}
