import { describe, expect, it } from 'vitest';
import { backtestHoldout, type HoldoutRow } from '../server/clv-model/backtest.js';
import {
  bgNbdLogLikelihood,
  bgNbdLogLikelihoodGradient,
  expectedPurchases,
  expectedPurchasesNewCustomer,
  fitBgNbd,
  probabilityAlive,
  type BgNbdParams,
  type RfmTuple,
} from '../server/clv-model/bgnbd.js';
import { predictedClv } from '../server/clv-model/clv.js';
import {
  expectedAverageOrderValue,
  fitGammaGamma,
  gammaGammaLogLikelihood,
  gammaGammaLogLikelihoodGradient,
  type GammaGammaParams,
  type MonetaryRow,
} from '../server/clv-model/gamma-gamma.js';
import { bfgs, minimize, ModelFitError, nelderMead } from '../server/clv-model/optimize.js';
import { digamma, hyp2f1, lbeta, lgamma } from '../server/clv-model/special.js';
import { expectedIfAliveByQuadrature } from './helpers/bgnbd-reference.js';
import { haveCdnow, readCdnowSample, readCdnowSummary } from './helpers/cdnow.js';

// Fader, Hardie & Lee (2005), Table 1 / lifetimes' documentation, CDNOW sample in weeks.
const CDNOW_BG_NBD: BgNbdParams = { r: 0.2426, alpha: 4.4137, a: 0.793, b: 2.4262 };
const CDNOW_GAMMA_GAMMA: GammaGammaParams = { p: 6.25, q: 3.74, v: 15.44 };

function expectWithinRelative(actual: number, expected: number, tolerance: number): void {
  expect(Math.abs(actual - expected) / Math.abs(expected)).toBeLessThanOrEqual(tolerance);
}

/** A double's exact binary value as numerator / 2^k. */
function exactRational(x: number): [bigint, bigint] {
  let k = 0;
  while (!Number.isInteger(x * 2 ** k)) k++;
  return [BigInt(x * 2 ** k), 2n ** BigInt(k)];
}

/**
 * ₂F₁ for 0 <= z < 1 by summing its series in fixed point with 60 decimals, from the exact binary
 * values of the arguments: nothing shared with hyp2f1 but the definition. Each term is rounded by
 * at most 1e-60, so for positive parameters the result is exact to far beyond double precision.
 */
function hyp2f1Reference(a: number, b: number, c: number, z: number): number {
  const one = 10n ** 60n;
  const [[pa, qa], [pb, qb], [pc, qc], [pz, qz]] = [exactRational(a), exactRational(b), exactRational(c), exactRational(z)];
  const abs = (v: bigint) => (v < 0n ? -v : v);
  let term = one;
  let sum = one;
  for (let n = 0n; ; n++) {
    const next = (term * (pa + n * qa) * (pb + n * qb) * pz * qc) / (qa * qb * qz * (pc + n * qc) * (n + 1n));
    sum += next;
    // For positive parameters, once the terms shrink their ratios stay below 1 and tend to z (<= 0.99
    // here): a tail starting at 1e-30 of the sum does not reach double precision.
    const shrinking = abs(next) < abs(term);
    term = next;
    if (shrinking && abs(term) * 10n ** 30n < abs(sum)) return Number(sum) / 1e60;
  }
}

describe('lgamma', () => {
  it('matches known values of ln Γ', () => {
    expect(lgamma(1)).toBeCloseTo(0, 14);
    expect(lgamma(2)).toBeCloseTo(0, 14);
    expect(lgamma(0.5)).toBeCloseTo(Math.log(Math.sqrt(Math.PI)), 14);
    expect(lgamma(10)).toBeCloseTo(Math.log(362_880), 12);
    expectWithinRelative(lgamma(100), 359.13420536957539878, 1e-14);
    expectWithinRelative(lgamma(1e-8), 18.420680738180209, 1e-14);
  });

  it('gives ln|Γ| for negative arguments and +Infinity at the poles', () => {
    expect(lgamma(-0.5)).toBeCloseTo(Math.log(2 * Math.sqrt(Math.PI)), 14);
    expect(lgamma(-2.5)).toBeCloseTo(Math.log((8 * Math.sqrt(Math.PI)) / 15), 13);
    expect(lgamma(0)).toBe(Infinity);
    expect(lgamma(-3)).toBe(Infinity);
  });

  it('gives ln B(a, b) through lbeta', () => {
    expect(lbeta(2, 3)).toBeCloseTo(Math.log(1 / 12), 14);
  });
});

describe('hyp2f1', () => {
  const logOverZ = (z: number) => -Math.log1p(-z) / z;

  it.each([0.3, 0.6, 0.9, 0.999, -0.5, -20])('gives 2F1(1, 1; 2; z) = −ln(1 − z)/z at z = %s', (z) => {
    expectWithinRelative(hyp2f1(1, 1, 2, z), logOverZ(z), 1e-13);
  });

  it.each([0.2, 0.9])('gives 2F1(1/2, 1/2; 3/2; z²) = asin(z)/z at z = %s', (z) => {
    expectWithinRelative(hyp2f1(0.5, 0.5, 1.5, z * z), Math.asin(z) / z, 1e-13);
  });

  it.each([0.5, 2, 30])('gives 2F1(1/2, 1; 3/2; −z²) = atan(z)/z at z = %s', (z) => {
    expectWithinRelative(hyp2f1(0.5, 1, 1.5, -z * z), Math.atan(z) / z, 1e-13);
  });

  it.each([0.4, 0.95, 0.9999])('gives 2F1(a, b; b; z) = (1 − z)^−a at z = %s', (z) => {
    expectWithinRelative(hyp2f1(0.3, 1.7, 1.7, z), (1 - z) ** -0.3, 1e-13);
  });

  // Before the connection formula was checked for cancellation this gave −1.07e7.
  it('matches the exact series where the connection formula cancels: 2F1(79.5468, 5.4323; 90.3157; 0.86226)', () => {
    const reference = hyp2f1Reference(79.5468, 5.4323, 90.3157, 0.86226);
    expectWithinRelative(reference, 2937.384902728953, 1e-14);
    expectWithinRelative(hyp2f1(79.5468, 5.4323, 90.3157, 0.86226), reference, 1e-12);
  });

  // 2 × 3 × 3 × 3 parameter sets above z = 3/4 with large a or b, c − a − b from −4.6 to 13.7.
  const largeParameters = [0.5, 79.5].flatMap((a) =>
    [5.4, 47.3, 150.2].flatMap((b) =>
      [-4.6, 0.3, 13.7].flatMap((m) => [0.8, 0.9, 0.97].map((z) => [a, b, a + b + m, z] as const)),
    ),
  );
  it.each(largeParameters)('matches the exact series for large parameters: 2F1(%s, %s; %s; %s)', (a, b, c, z) => {
    expectWithinRelative(hyp2f1(a, b, c, z), hyp2f1Reference(a, b, c, z), 1e-11);
  });

  it('reduces to a polynomial when a is a non-positive integer', () => {
    const [b, c, z] = [1.5, 2.5, 0.9];
    expectWithinRelative(hyp2f1(-2, b, c, z), 1 - (2 * b * z) / c + (b * (b + 1) * z * z) / (c * (c + 1)), 1e-14);
  });

  it('refuses z >= 1 and c at a pole', () => {
    expect(() => hyp2f1(1, 1, 2, 1)).toThrow(RangeError);
    expect(() => hyp2f1(1, 1, -2, 0.5)).toThrow(RangeError);
  });
});

describe('digamma', () => {
  const EULER = 0.5772156649015329;

  it('matches known values of ψ', () => {
    expect(digamma(1)).toBeCloseTo(-EULER, 14);
    expect(digamma(0.5)).toBeCloseTo(-EULER - 2 * Math.log(2), 14);
    // ψ(n) = H(n−1) − γ
    expectWithinRelative(digamma(10), 1 + 1 / 2 + 1 / 3 + 1 / 4 + 1 / 5 + 1 / 6 + 1 / 7 + 1 / 8 + 1 / 9 - EULER, 1e-15);
    expectWithinRelative(digamma(100), 4.600161852738087, 1e-15);
    // ψ(x) = −1/x − γ + (π²/6)·x + O(x²)
    expectWithinRelative(digamma(1e-8), -1e8 - EULER + (Math.PI ** 2 / 6) * 1e-8, 1e-15);
    expectWithinRelative(digamma(-0.5), 2 - EULER - 2 * Math.log(2), 1e-14);
    expect(digamma(-2)).toBeNaN();
  });

  it.each([0.03, 0.7, 3.5, 9.99, 10, 42.5, 1234.5])('is the derivative of lgamma at %s', (x) => {
    const h = 1e-5 * x;
    expectWithinRelative(digamma(x), (lgamma(x + h) - lgamma(x - h)) / (2 * h), 1e-7);
  });
});

describe('nelderMead', () => {
  it('finds the minimum of the Rosenbrock valley', () => {
    const rosenbrock = ([x, y]: readonly number[]) => (1 - x!) ** 2 + 100 * (y! - x! * x!) ** 2;
    const result = nelderMead(rosenbrock, [-1.2, 1]);
    expect(result.converged).toBe(true);
    expect(result.x[0]).toBeCloseTo(1, 6);
    expect(result.x[1]).toBeCloseTo(1, 6);
  });
});

describe('bfgs and minimize', () => {
  const rosenbrock = ([x, y]: readonly number[]) => ({
    value: (1 - x!) ** 2 + 100 * (y! - x! * x!) ** 2,
    gradient: [-2 * (1 - x!) - 400 * x! * (y! - x! * x!), 200 * (y! - x! * x!)],
  });

  it('finds the minimum of the Rosenbrock valley with far fewer evaluations than Nelder–Mead', () => {
    const result = bfgs(rosenbrock, [-1.2, 1]);
    expect(result.converged).toBe(true);
    expect(result.x[0]).toBeCloseTo(1, 6);
    expect(result.x[1]).toBeCloseTo(1, 6);
    const simplex = nelderMead((x) => rosenbrock(x).value, [-1.2, 1]);
    expect(result.evaluations).toBeLessThan(simplex.evaluations / 2);
  });

  it('falls back to Nelder–Mead when the gradient is useless', () => {
    // The gradient points uphill, so no step along −H·g decreases the value.
    const wrong = (x: readonly number[]) => ({ value: (x[0]! - 3) ** 2 + (x[1]! + 1) ** 2, gradient: [6 - 2 * x[0]!, -2 - 2 * x[1]!] });
    expect(bfgs(wrong, [0, 0]).converged).toBe(false);
    const result = minimize(wrong, [0, 0]);
    expect(result.converged).toBe(true);
    expect(result.x[0]).toBeCloseTo(3, 5);
    expect(result.x[1]).toBeCloseTo(-1, 5);
  });
});

describe('BG/NBD', () => {
  // r = a + b − 1 collapses the ₂F₁ to a power, so these values can be checked by hand:
  // P(alive | x=1, t_x=1, T=2) = 1 / (1 + 2/1 · (3/2)³) = 4/31, and
  // E[Y(3) | alive] = (a+b+x−1)/(a−1) · (1 − (α+T)/(α+T+t)) = 3 · 1/2.
  const handCheckable: BgNbdParams = { r: 2, alpha: 1, a: 2, b: 1 };

  it('treats a customer who never repurchased as alive', () => {
    expect(probabilityAlive(CDNOW_BG_NBD, 0, 0, 38.86)).toBe(1);
  });

  it('gives hand-checked P(alive) and expected purchases', () => {
    expect(probabilityAlive(handCheckable, 1, 1, 2)).toBeCloseTo(4 / 31, 14);
    expect(expectedPurchases(handCheckable, 3, 1, 1, 2)).toBeCloseTo(6 / 31, 14);
    // E[X(t)] = 2t/(α+t) for a new customer under these parameters.
    expect(expectedPurchasesNewCustomer(handCheckable, 1)).toBeCloseTo(1, 14);
  });

  it('reproduces the worked example of Fader, Hardie & Lee: E[Y(39) | x=2, t_x=30.43, T=38.86] = 1.226', () => {
    expect(expectedPurchases(CDNOW_BG_NBD, 39, 2, 30.43, 38.86)).toBeCloseTo(1.226, 3);
  });

  it.each([
    ['a new customer over a year', CDNOW_BG_NBD, 52, 0, 0],
    ['a new customer over ten years', CDNOW_BG_NBD, 520, 0, 0],
    ['a heavy buyer', CDNOW_BG_NBD, 39, 40, 38],
    ['a − r an integer', { r: 0.5, alpha: 3, a: 1.5, b: 2.5 }, 100, 3, 20],
    ['a exactly 1', { r: 0.5, alpha: 3, a: 1, b: 2.5 }, 100, 3, 20],
    ['a just off 1', { r: 0.5, alpha: 3, a: 1 + 3e-6, b: 2.5 }, 100, 3, 20],
  ] as const)('agrees with quadrature for %s', (_, params, t, x, T) => {
    const recency = T / 2;
    const alive = probabilityAlive(params, x, recency, T);
    expectWithinRelative(
      expectedPurchases(params, t, x, recency, T),
      alive * expectedIfAliveByQuadrature(params, t, x, T),
      1e-7,
    );
  });

  // The paper's form, (a+b+x−1)/(a−1)·[1 − (1−z)^(r+x)·₂F₁(r+x, b+x; a+b+x−1; z)], with the ₂F₁ summed
  // exactly: shares neither Euler's rewrite nor hyp2f1 with expectedPurchases.
  const largeB: BgNbdParams[] = [
    { r: 1.1, alpha: 2.2, a: 6.4, b: 75 },
    { r: 0.8, alpha: 15, a: 2, b: 50 },
    { r: 2.5, alpha: 0.5, a: 0.7, b: 60 },
  ];
  it.each(largeB.flatMap((params) => [10, 90, 200].map((x) => [params, x] as const)))(
    'agrees with the exactly summed closed form for heavy buyers with large b: %j, x = %s',
    (params, x) => {
      const { r, alpha, a, b } = params;
      const [T, t] = [x / 8, 26];
      const z = t / (alpha + T + t);
      const c = a + b + x - 1;
      const ifAlive = (c / (a - 1)) * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp2f1Reference(r + x, b + x, c, z));
      const recency = 0.9 * T;
      expectWithinRelative(expectedPurchases(params, t, x, recency, T), probabilityAlive(params, x, recency, T) * ifAlive, 1e-10);
    },
  );

  // The fit of a 21-customer store whose repeat buyers all stopped (an acceptance audit found its
  // predictions NaN): a at the edge of the search space, b near 0. Euler's rewrite overflows there.
  const edge: BgNbdParams = { r: 0.05805581985748002, alpha: 1.0924951010199833, a: 1835291.443126903, b: 5.448725883262569e-7 };
  it.each([
    [0, 0, 0],
    [1, 1.1428571428571428, 142.85714285714286],
    [3, 10, 100],
  ] as const)('stays finite at a fit on the edge of its space, equal to the exactly summed closed form: x = %s', (x, recency, T) => {
    const { r, alpha, a, b } = edge;
    const t = 90 / 7;
    const z = t / (alpha + T + t);
    const c = a + b + x - 1;
    const ifAlive = (c / (a - 1)) * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp2f1Reference(r + x, b + x, c, z));
    const value = expectedPurchases(edge, t, x, recency, T);
    expect(Number.isFinite(value)).toBe(true);
    expectWithinRelative(value, probabilityAlive(edge, x, recency, T) * ifAlive, 1e-10);
  });

  it('expects a positive number of purchases that grows with the horizon for heavy buyers with large b', () => {
    const horizons = [0.5, 1, 2, 4, 8, 13, 26, 39, 52, 78, 104, 260];
    for (const params of largeB) {
      for (const x of [10, 40, 90, 200]) {
        for (const T of [x / 8, x / 3, 10, 52]) {
          const expected = horizons.map((t) => expectedPurchases(params, t, x, 0.9 * T, T));
          expect(expected[0]).toBeGreaterThan(0);
          for (let i = 1; i < expected.length; i++) expect(expected[i]).toBeGreaterThan(expected[i - 1]!);
        }
      }
    }
  });

  // Tuples where the alive term dominates, where the dropout term does, and one-time buyers.
  const mixed: RfmTuple[] = [
    { frequency: 0, recency: 0, T: 30, count: 5 },
    { frequency: 1, recency: 2, T: 30, count: 3 },
    { frequency: 2, recency: 28, T: 30, count: 1 },
    { frequency: 5, recency: 3, T: 40, count: 2 },
    { frequency: 12, recency: 39, T: 40, count: 1 },
    { frequency: 40, recency: 10, T: 12, count: 1 },
  ];
  it.each([{ r: 0.7, alpha: 3.1, a: 1.3, b: 4.2 }, ...largeB])('has the gradient of its finite differences at %j', (params) => {
    const gradient = bgNbdLogLikelihoodGradient(params, mixed);
    for (const key of ['r', 'alpha', 'a', 'b'] as const) {
      const h = 1e-6 * params[key];
      const at = (delta: number) => bgNbdLogLikelihood({ ...params, [key]: params[key] + delta }, mixed);
      const central = (at(h) - at(-h)) / (2 * h);
      expect(Math.abs(gradient[key] - central)).toBeLessThanOrEqual(1e-6 * (1 + Math.abs(central)));
    }
  });

  it('sums the log-likelihood of each tuple, weighted by its count', () => {
    const { r, alpha, a, b } = CDNOW_BG_NBD;
    const [x, tx, T] = [2, 30.43, 38.86];
    const byHand = Math.log(
      (Math.exp(lbeta(a, b + x) - lbeta(a, b) + lgamma(r + x) - lgamma(r)) * alpha ** r) / (alpha + T) ** (r + x) +
        (Math.exp(lbeta(a + 1, b + x - 1) - lbeta(a, b) + lgamma(r + x) - lgamma(r)) * alpha ** r) /
          (alpha + tx) ** (r + x),
    );
    const ll = bgNbdLogLikelihood(CDNOW_BG_NBD, [{ frequency: x, recency: tx, T, count: 3 }]);
    expect(ll).toBeCloseTo(3 * byHand, 10);
  });

  it('rejects invalid summaries and data without repeat purchases', () => {
    expect(() => fitBgNbd([{ frequency: 1, recency: 5, T: 4, count: 1 }])).toThrow(RangeError);
    expect(() => fitBgNbd([{ frequency: 0, recency: 0, T: 4, count: 10 }])).toThrow(ModelFitError);
  });
});

describe('Gamma-Gamma and CLV', () => {
  const gg: GammaGammaParams = { p: 6, q: 4, v: 15 };

  it('blends the population mean p·v/(q−1) with the customer mean', () => {
    expect(expectedAverageOrderValue(gg, 0, Number.NaN)).toBeCloseTo(30, 12);
    // 6 · (15 + 2 · 40) / (6 · 2 + 4 − 1)
    expect(expectedAverageOrderValue(gg, 2, 40)).toBeCloseTo(38, 12);
  });

  it.each([gg, CDNOW_GAMMA_GAMMA, { p: 0.8, q: 1.5, v: 300 }])('has the gradient of its finite differences at %j', (params) => {
    const rows: MonetaryRow[] = [
      { frequency: 1, monetaryValue: 20, count: 3 },
      { frequency: 2, monetaryValue: 35.5, count: 1 },
      { frequency: 5, monetaryValue: 12, count: 2 },
      { frequency: 9, monetaryValue: 80, count: 1 },
    ];
    const gradient = gammaGammaLogLikelihoodGradient(params, rows);
    for (const key of ['p', 'q', 'v'] as const) {
      const h = 1e-6 * params[key];
      const at = (delta: number) => gammaGammaLogLikelihood({ ...params, [key]: params[key] + delta }, rows);
      const central = (at(h) - at(-h)) / (2 * h);
      expect(Math.abs(gradient[key] - central)).toBeLessThanOrEqual(1e-6 * (1 + Math.abs(central)));
    }
  });

  it('rejects customers without repeat purchases when fitting', () => {
    expect(() => fitGammaGamma([{ frequency: 0, monetaryValue: 10, count: 1 }])).toThrow(RangeError);
  });

  it('is margin × order value × expected purchases when nothing is discounted', () => {
    const customer = { frequency: 2, recency: 30.43, T: 38.86, monetaryValue: 40 };
    const clv = predictedClv(CDNOW_BG_NBD, gg, customer, { horizon: 52, discountRate: 0, margin: 0.3 });
    expect(clv).toBeCloseTo(0.3 * 38 * expectedPurchases(CDNOW_BG_NBD, 52, 2, 30.43, 38.86), 12);
  });

  it('discounts the purchases expected in each unit to the end of that unit', () => {
    const customer = { frequency: 0, recency: 0, T: 10, monetaryValue: 0 };
    const [y1, y2] = [1, 2].map((k) => expectedPurchases(CDNOW_BG_NBD, k, 0, 0, 10)) as [number, number];
    const clv = predictedClv(CDNOW_BG_NBD, gg, customer, { horizon: 2, discountRate: 0.1, margin: 1 });
    expect(clv).toBeCloseTo(30 * (y1 / 1.1 + (y2 - y1) / 1.1 ** 2), 12);
  });
});

describe('backtestHoldout', () => {
  it('buckets customers by calibration frequency, pooling 7 and more', () => {
    const rows: HoldoutRow[] = [
      { frequency: 0, recency: 0, T: 30, count: 2, holdoutPurchases: 1 },
      { frequency: 0, recency: 0, T: 30, count: 1, holdoutPurchases: 0 },
      { frequency: 7, recency: 20, T: 30, count: 1, holdoutPurchases: 4 },
      { frequency: 12, recency: 28, T: 30, count: 1, holdoutPurchases: 9 },
    ];
    const result = backtestHoldout(CDNOW_BG_NBD, rows, 39);
    const predicted = (f: number, rec: number) => expectedPurchases(CDNOW_BG_NBD, 39, f, rec, 30);
    const [p0, p7, p12] = [predicted(0, 0), predicted(7, 20), predicted(12, 28)];

    expect(result.buckets.map((b) => b.label)).toEqual(['0', '1', '2', '3', '4', '5', '6', '7+']);
    const zero = result.buckets[0]!;
    expect(zero.customers).toBe(3);
    expect(zero.actualMean).toBeCloseTo(2 / 3, 14);
    expect(zero.predictedMean).toBeCloseTo(p0, 14);
    expect(zero.meanAbsoluteError).toBeCloseTo((2 * Math.abs(1 - p0) + p0) / 3, 14);
    expect(result.buckets[1]).toEqual({ label: '1', customers: 0, actualMean: null, predictedMean: null, meanAbsoluteError: null });
    const top = result.buckets[7]!;
    expect(top.customers).toBe(2);
    expect(top.actualMean).toBeCloseTo(6.5, 14);
    expect(top.predictedMean).toBeCloseTo((p7 + p12) / 2, 14);
    expect(result.total.customers).toBe(5);
    expect(result.total.actualMean).toBeCloseTo(15 / 5, 14);
  });
});


const DAY_MS = 86_400_000;
const CALIBRATION_END = Date.UTC(1997, 8, 30);
const HOLDOUT_END = Date.UTC(1998, 5, 30);

interface CdnowCustomer {
  id: number;
  frequency: number;
  recency: number;
  T: number;
  monetaryValue: number;
  holdoutPurchases: number;
}

/**
 * The issue's RFM definition, written plainly: same-day purchases merged into one, frequency =
 * purchase days after the first, recency and T in weeks (days / 7), monetary value = mean of
 * the repeat days' merged amounts, holdout purchases = purchase days after calibration.
 */
function cdnowSummaries(sampleText: string): CdnowCustomer[] {
  const days = new Map<number, Map<number, number>>();
  for (const line of sampleText.split(/\r?\n/)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 5) continue;
    const [, id, date, , dollars] = fields as [string, string, string, string, string];
    const day = Date.UTC(Number(date.slice(0, 4)), Number(date.slice(4, 6)) - 1, Number(date.slice(6, 8)));
    const customer = days.get(Number(id)) ?? new Map<number, number>();
    customer.set(day, (customer.get(day) ?? 0) + Number(dollars));
    days.set(Number(id), customer);
  }
  return [...days].map(([id, amounts]) => {
    const sorted = [...amounts.keys()].sort((x, y) => x - y);
    const calibration = sorted.filter((d) => d <= CALIBRATION_END);
    const first = calibration[0]!;
    const last = calibration[calibration.length - 1]!;
    const repeats = calibration.slice(1).map((d) => amounts.get(d)!);
    return {
      id,
      frequency: repeats.length,
      recency: (last - first) / DAY_MS / 7,
      T: (CALIBRATION_END - first) / DAY_MS / 7,
      monetaryValue: repeats.length === 0 ? 0 : repeats.reduce((s, v) => s + v, 0) / repeats.length,
      holdoutPurchases: sorted.length - calibration.length,
    };
  });
}

describe.skipIf(!haveCdnow)('CDNOW sample', () => {
  const customers = haveCdnow ? cdnowSummaries(readCdnowSample()) : [];
  const published = haveCdnow
    ? readCdnowSummary()
    : [];

  it('derives the published calibration summary of every customer from the transactions', () => {
    expect(customers).toHaveLength(2357);
    expect(published).toHaveLength(2357);
    const byId = new Map(customers.map((c) => [c.id, c]));
    for (const [id, frequency, recency, T] of published) {
      const c = byId.get(id)!;
      expect(c.frequency).toBe(frequency);
      // The CSV rounds weeks to two decimals.
      expect(Math.abs(c.recency - recency)).toBeLessThanOrEqual(0.005 + 1e-9);
      expect(Math.abs(c.T - T)).toBeLessThanOrEqual(0.005 + 1e-9);
    }
  });

  it('fits BG/NBD within 1% of the published parameters', () => {
    const tuples: RfmTuple[] = published.map(([, frequency, recency, T]) => ({ frequency, recency, T, count: 1 }));
    const { params, logLikelihood } = fitBgNbd(tuples);
    for (const key of ['r', 'alpha', 'a', 'b'] as const) expectWithinRelative(params[key], CDNOW_BG_NBD[key], 0.01);
    expect(logLikelihood).toBeCloseTo(-9582.4, 1);
  });

  // The gradient fit replaced Nelder–Mead; from the same start Nelder–Mead alone must not do better
  // by more than the rounding of a sum over thousands of customers (measured: equal to 1e-15).
  it('reaches at least the log-likelihood Nelder–Mead finds from the same start', () => {
    const atLeast = (fitted: number, simplex: number) => expect(fitted).toBeGreaterThanOrEqual(simplex - 1e-12 * Math.abs(simplex));
    const tuples: RfmTuple[] = published.map(([, frequency, recency, T]) => ({ frequency, recency, T, count: 1 }));
    const fit = fitBgNbd(tuples);
    const purchases = tuples.reduce((s, t) => s + t.frequency, 0);
    const exposure = tuples.reduce((s, t) => s + t.T, 0);
    const toParams = ([r, alpha, a, b]: readonly number[]) => ({ r: Math.exp(r!), alpha: Math.exp(alpha!), a: Math.exp(a!), b: Math.exp(b!) });
    const simplex = nelderMead((lp) => -bgNbdLogLikelihood(toParams(lp), tuples) / tuples.length, [0, Math.log(exposure / purchases), 0, 0]);
    expect(simplex.converged).toBe(true);
    atLeast(bgNbdLogLikelihood(fit.params, tuples), bgNbdLogLikelihood(toParams(simplex.x), tuples));
    for (const key of ['r', 'alpha', 'a', 'b'] as const) expectWithinRelative(fit.params[key], toParams(simplex.x)[key], 1e-5);

    const rows: MonetaryRow[] = customers.filter((c) => c.frequency > 0).map((c) => ({ frequency: c.frequency, monetaryValue: c.monetaryValue, count: 1 }));
    const spend = fitGammaGamma(rows);
    const toSpend = ([p, q, v]: readonly number[]) => ({ p: Math.exp(p!), q: Math.exp(q!), v: Math.exp(v!) });
    const meanSpend = rows.reduce((s, r) => s + r.monetaryValue, 0) / rows.length;
    const spendSimplex = nelderMead((lp) => -gammaGammaLogLikelihood(toSpend(lp), rows) / rows.length, [0, Math.log(2), Math.log(meanSpend)]);
    atLeast(gammaGammaLogLikelihood(spend.params, rows), gammaGammaLogLikelihood(toSpend(spendSimplex.x), rows));
    for (const key of ['p', 'q', 'v'] as const) expectWithinRelative(spend.params[key], toSpend(spendSimplex.x)[key], 1e-5);
  });

  it('fits the same parameters on unique tuples with counts as on one row per customer', () => {
    const counts = new Map<string, RfmTuple>();
    for (const [, frequency, recency, T] of published) {
      const key = `${frequency}|${recency}|${T}`;
      const tuple = counts.get(key);
      if (tuple) tuple.count++;
      else counts.set(key, { frequency, recency, T, count: 1 });
    }
    const perCustomer = fitBgNbd(published.map(([, frequency, recency, T]) => ({ frequency, recency, T, count: 1 })));
    const grouped = fitBgNbd([...counts.values()]);
    expect(counts.size).toBeLessThan(published.length);
    expect(grouped.logLikelihood).toBeCloseTo(perCustomer.logLikelihood, 6);
    for (const key of ['r', 'alpha', 'a', 'b'] as const) expectWithinRelative(grouped.params[key], perCustomer.params[key], 1e-4);
  });

  it('fits Gamma-Gamma on the 946 repeat customers within 1% of the published parameters', () => {
    const rows = customers
      .filter((c) => c.frequency > 0)
      .map((c) => ({ frequency: c.frequency, monetaryValue: c.monetaryValue, count: 1 }));
    expect(rows).toHaveLength(946);
    const { params } = fitGammaGamma(rows);
    for (const key of ['p', 'q', 'v'] as const) expectWithinRelative(params[key], CDNOW_GAMMA_GAMMA[key], 0.01);
  });

  // Measured: 0.701 predicted against 0.798 actual purchases per customer; the largest bucket gap
  // is 0.35 at frequency 2. BG/NBD under-predicts this holdout a little, as in the paper's Figure 4.
  it('predicts the 39-week holdout to within 15% in total and 0.4 purchases in every frequency bucket', () => {
    const holdoutWeeks = (HOLDOUT_END - CALIBRATION_END) / DAY_MS / 7;
    expect(holdoutWeeks).toBe(39);
    const rows: HoldoutRow[] = customers.map(({ frequency, recency, T, holdoutPurchases }) => ({
      frequency,
      recency,
      T,
      holdoutPurchases,
      count: 1,
    }));
    const { buckets, total } = backtestHoldout(CDNOW_BG_NBD, rows, holdoutWeeks);
    expectWithinRelative(total.predictedMean!, total.actualMean!, 0.15);
    for (const bucket of buckets) expect(Math.abs(bucket.predictedMean! - bucket.actualMean!)).toBeLessThan(0.4);
  });
});
