import { expectedPurchases, type BgNbdParams } from './bgnbd.js';
import { expectedAverageOrderValue, type GammaGammaParams } from './gamma-gamma.js';

/** One customer's calibration summary, times in the unit the models were fitted in. */
export interface ClvCustomer {
  frequency: number;
  recency: number;
  T: number;
  /** Mean value of the repeat purchases; ignored when frequency is 0. */
  monetaryValue: number;
}

export interface ClvOptions {
  /** Whole time units to look ahead. */
  horizon: number;
  /** Discount rate per time unit, e.g. (1 + 0.10) ** (1 / 52) − 1 for 10 % a year in weeks. */
  discountRate: number;
  /** Share of revenue kept as profit, 0..1. */
  margin: number;
}

/**
 * Predicted customer lifetime value over the horizon:
 *   margin · E[order value] · Σ_{k=1..H} (E[Y(k)] − E[Y(k−1)]) / (1 + d)^k
 * Purchases expected during unit k are discounted as if made at its end.
 */
export function predictedClv(
  bgNbd: BgNbdParams,
  gammaGamma: GammaGammaParams,
  customer: ClvCustomer,
  { horizon, discountRate, margin }: ClvOptions,
): number {
  if (!Number.isInteger(horizon) || horizon < 0) throw new RangeError(`horizon must be a whole number of units, got ${horizon}`);
  if (!(discountRate > -1)) throw new RangeError(`discountRate must be greater than -1, got ${discountRate}`);
  const { frequency, recency, T, monetaryValue } = customer;
  let discountedPurchases = 0;
  let previous = 0;
  for (let k = 1; k <= horizon; k++) {
    const cumulative = expectedPurchases(bgNbd, k, frequency, recency, T);
    discountedPurchases += (cumulative - previous) / (1 + discountRate) ** k;
    previous = cumulative;
  }
  return margin * expectedAverageOrderValue(gammaGamma, frequency, monetaryValue) * discountedPurchases;
}
