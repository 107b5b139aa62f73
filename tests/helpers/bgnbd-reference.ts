import type { BgNbdParams } from '../../server/clv-model/bgnbd.js';

// BG/NBD quantities computed the long way, sharing no code with loaders/clv-model: the tests'
// independent reference for what the model and the service predict.

/** P(alive | x, t_x, T) in closed form (Fader, Hardie & Lee 2005, eq. 11). */
export function probabilityAliveReference({ r, alpha, a, b }: BgNbdParams, x: number, recency: number, T: number): number {
  if (x === 0) return 1;
  return 1 / (1 + (a / (b + x - 1)) * ((alpha + T) / (alpha + recency)) ** (r + x));
}

/**
 * E[Y(t) | alive] by brute-force quadrature, independent of ₂F₁: with λ ~ Gamma(r + x, alpha + T)
 * and p ~ Beta(a, b + x) a live customer buys (1 − E[e^(−λ·p·t)]) / p in expectation.
 * Substituting p = u^(1/a) removes the Beta density's singularity at 0 for the midpoint rule, and
 * the same sum over the density alone normalises it (no Beta function needed).
 */
export function expectedIfAliveByQuadrature({ r, alpha, a, b }: BgNbdParams, t: number, x: number, T: number, steps = 200_000): number {
  const shape = r + x;
  const scale = alpha + T;
  const bPost = b + x;
  let sum = 0;
  let weight = 0;
  for (let i = 0; i < steps; i++) {
    const p = ((i + 0.5) / steps) ** (1 / a);
    const w = (1 - p) ** (bPost - 1);
    sum += (-Math.expm1(-shape * Math.log1p((p * t) / scale)) / p) * w;
    weight += w;
  }
  return sum / weight;
}

/** E[Y(t) | x, t_x, T]: expected purchases of a customer in the next t time units. */
export function expectedPurchasesReference(params: BgNbdParams, t: number, x: number, recency: number, T: number, steps?: number): number {
  return probabilityAliveReference(params, x, recency, T) * expectedIfAliveByQuadrature(params, t, x, T, steps);
}
