import { minimize, ModelFitError } from './optimize.js';
import { digamma, hyp2f1, lbeta, lgamma } from './special.js';

/**
 * BG/NBD (Fader, Hardie & Lee 2005). While alive a customer buys at rate λ ~ Gamma(r, alpha);
 * after each purchase they drop out for good with probability p ~ Beta(a, b).
 * alpha is in the time unit of the summaries (days or weeks).
 */
export interface BgNbdParams {
  r: number;
  alpha: number;
  a: number;
  b: number;
}

/**
 * `count` customers sharing one calibration summary: `frequency` repeat purchase periods,
 * `recency` from first to last purchase, `T` from first purchase to the end of calibration.
 */
export interface RfmTuple {
  frequency: number;
  recency: number;
  T: number;
  count: number;
}

export interface BgNbdFit {
  params: BgNbdParams;
  /** Total log-likelihood over all customers (not per tuple). */
  logLikelihood: number;
}

interface FrequencyGroup {
  x: number;
  customers: number;
  /** Per tuple, the index of its T and of its recency in `Layout.times`. */
  T: Int32Array;
  recency: Int32Array;
  count: Float64Array;
}

interface Layout {
  groups: FrequencyGroup[];
  /** Distinct values of T and recency: summaries in whole days take at most a few thousand. */
  times: Float64Array;
}

function checkTuple(t: RfmTuple, i: number): void {
  const ok =
    Number.isInteger(t.frequency) &&
    t.frequency >= 0 &&
    t.recency >= 0 &&
    t.T >= t.recency &&
    Number.isFinite(t.T) &&
    t.count > 0 &&
    Number.isFinite(t.count);
  if (!ok) throw new RangeError(`RFM tuple ${i} is not a valid summary: ${JSON.stringify(t)}`);
}

/**
 * Everything that depends on frequency alone (all the lgamma terms) is evaluated once per
 * frequency, and ln(alpha + time) once per distinct time, leaving one exp and one log1p per
 * tuple: this is what makes a million customers cheap to fit. Plain loops fill the typed arrays:
 * with a fit taking a few dozen evaluations, building this layout is a good part of its cost.
 */
function layOut(tuples: readonly RfmTuple[]): Layout {
  const timeIndex = new Map<number, number>();
  const indexOf = (time: number): number => {
    let i = timeIndex.get(time);
    if (i === undefined) timeIndex.set(time, (i = timeIndex.size));
    return i;
  };
  const groupIndex = new Map<number, number>();
  const sizes: number[] = [];
  tuples.forEach((t, i) => {
    checkTuple(t, i);
    const g = groupIndex.get(t.frequency);
    if (g === undefined) {
      groupIndex.set(t.frequency, sizes.length);
      sizes.push(1);
    } else {
      sizes[g]!++;
    }
  });
  const groups: FrequencyGroup[] = [...groupIndex.keys()].map((x, g) => ({
    x,
    customers: 0,
    T: new Int32Array(sizes[g]!),
    recency: new Int32Array(sizes[g]!),
    count: new Float64Array(sizes[g]!),
  }));
  const filled = new Int32Array(groups.length);
  for (const t of tuples) {
    const g = groupIndex.get(t.frequency)!;
    const group = groups[g]!;
    const i = filled[g]!++;
    group.T[i] = indexOf(t.T);
    group.recency[i] = indexOf(t.recency);
    group.count[i] = t.count;
    group.customers += t.count;
  }
  return { groups, times: Float64Array.from(timeIndex.keys()) };
}

interface LogLikelihood {
  value: number;
  /** ∂/∂r, ∂/∂alpha, ∂/∂a, ∂/∂b. */
  gradient: [number, number, number, number];
}

/**
 * The log-likelihood and its gradient in one pass. A customer with x > 0 made x purchases either
 * still alive at T or dropping out right after the last one: ln(e^alive + e^dropped). Its
 * derivatives are those of the two terms weighted by their softmax shares, so per tuple the
 * gradient adds only the dropout share (one division) to the value's exp and log1p.
 */
function logLikelihoodOf({ groups, times }: Layout, { r, alpha, a, b }: BgNbdParams): LogLikelihood {
  const logs = times.map((time) => Math.log(alpha + time));
  const inverses = times.map((time) => 1 / (alpha + time));
  const lnAlpha = Math.log(alpha);
  const lgammaR = lgamma(r);
  const lbetaAB = lbeta(a, b);
  const [digammaR, digammaAB, digammaB] = [digamma(r), digamma(a + b), digamma(b)];
  let value = 0;
  let [dr, dalpha, da, db] = [0, 0, 0, 0];
  for (const g of groups) {
    const { x, customers, T, recency, count } = g;
    const rx = r + x;
    const digammaABX = digamma(a + b + x);
    value += customers * (lgamma(rx) - lgammaR + r * lnAlpha + lbeta(a, b + x) - lbetaAB);
    dr += customers * (digamma(rx) - digammaR + lnAlpha);
    dalpha += (customers * r) / alpha;
    da += customers * (digammaAB - digammaABX);
    db += customers * (digamma(b + x) - digammaABX - digammaB + digammaAB);
    // Σ count·ln(alpha + time) and Σ count/(alpha + time) over the tuples' mix of T and recency, and Σ count·share of dropping out.
    let logMix = 0;
    let inverseMix = 0;
    if (x === 0) {
      for (let i = 0; i < T.length; i++) {
        logMix += count[i]! * logs[T[i]!]!;
        inverseMix += count[i]! * inverses[T[i]!]!;
      }
      value -= r * logMix;
      dr -= logMix;
      dalpha -= r * inverseMix;
      continue;
    }
    const dropoutTerm = Math.log(a) - Math.log(b + x - 1);
    let tuples = 0;
    let dropped = 0;
    for (let i = 0; i < T.length; i++) {
      const logT = logs[T[i]!]!;
      const logRecency = logs[recency[i]!]!;
      const alive = -rx * logT;
      const gap = dropoutTerm - rx * logRecency - alive;
      // The larger term factored out keeps exp from overflowing.
      const e = Math.exp(-Math.abs(gap));
      const share = gap > 0 ? 1 / (1 + e) : e / (1 + e);
      const c = count[i]!;
      tuples += c * (alive + Math.max(gap, 0) + Math.log1p(e));
      dropped += c * share;
      logMix += c * (logT + share * (logRecency - logT));
      const inverseT = inverses[T[i]!]!;
      inverseMix += c * (inverseT + share * (inverses[recency[i]!]! - inverseT));
    }
    value += tuples;
    dr -= logMix;
    dalpha -= rx * inverseMix;
    da += dropped / a;
    db -= dropped / (b + x - 1);
  }
  return { value, gradient: [dr, dalpha, da, db] };
}

/** Total BG/NBD log-likelihood of the customers in `tuples`. */
export function bgNbdLogLikelihood(params: BgNbdParams, tuples: readonly RfmTuple[]): number {
  return logLikelihoodOf(layOut(tuples), params).value;
}

/** ∂/∂θ of `bgNbdLogLikelihood` for each parameter θ, as the fit uses it. */
export function bgNbdLogLikelihoodGradient(params: BgNbdParams, tuples: readonly RfmTuple[]): BgNbdParams {
  const [r, alpha, a, b] = logLikelihoodOf(layOut(tuples), params).gradient;
  return { r, alpha, a, b };
}

/**
 * Maximum-likelihood BG/NBD parameters: BFGS on log-parameters (so all four stay positive) with
 * the analytic gradient, Nelder–Mead should it not converge.
 */
export function fitBgNbd(tuples: readonly RfmTuple[]): BgNbdFit {
  const layout = layOut(tuples);
  let customers = 0;
  let purchases = 0;
  let exposure = 0;
  for (const g of layout.groups) {
    customers += g.customers;
    purchases += g.customers * g.x;
    for (let i = 0; i < g.T.length; i++) exposure += g.count[i]! * layout.times[g.T[i]!]!;
  }
  if (purchases === 0 || exposure === 0) {
    throw new ModelFitError('BG/NBD needs at least one repeat purchase and a calibration period longer than zero');
  }
  const toParams = ([lr, lalpha, la, lb]: readonly number[]): BgNbdParams => ({
    r: Math.exp(lr!),
    alpha: Math.exp(lalpha!),
    a: Math.exp(la!),
    b: Math.exp(lb!),
  });
  // Start from the observed repeat rate (r / alpha = purchases per unit of exposure) so that the
  // time unit, days or weeks, does not decide how far the search must travel.
  const start = [0, Math.log(exposure / purchases), 0, 0];
  // The mean per customer keeps the tolerances independent of the number of customers.
  const result = minimize((lp) => {
    const params = toParams(lp);
    const { value, gradient } = logLikelihoodOf(layout, params);
    // d/d ln θ = θ · d/dθ
    const scale = [params.r, params.alpha, params.a, params.b].map((theta) => -theta / customers);
    return { value: -value / customers, gradient: gradient.map((d, i) => d * scale[i]!) };
  }, start);
  if (!result.converged) {
    throw new ModelFitError(`BG/NBD fit did not converge after ${result.evaluations} likelihood evaluations`);
  }
  return { params: toParams(result.x), logLikelihood: -result.value * customers };
}

/** Probability that a customer with this calibration summary is still alive at the end of calibration. */
export function probabilityAlive(
  { r, alpha, a, b }: BgNbdParams,
  frequency: number,
  recency: number,
  T: number,
): number {
  // Dropout only happens right after a purchase, so someone who never repurchased cannot have left.
  if (frequency === 0) return 1;
  const logOdds = Math.log(a / (b + frequency - 1)) + (r + frequency) * Math.log((alpha + T) / (alpha + recency));
  return 1 / (1 + Math.exp(logOdds));
}

// Half-width of the interval around a = 1 where expectedIfAlive interpolates; see there.
const A_NEAR_ONE = 1e-5;

/**
 * E[purchases in (T, T + t] | alive at T] = (a+b+x−1)/(a−1) · [1 − (1−z)^(r+x) ₂F₁(r+x, b+x; a+b+x−1; z)]
 * with z = t / (alpha + T + t). Euler's transformation rewrites (1−z)^(r+x) ₂F₁(…) as
 * (1−z)^(a−1) ₂F₁(a+b−1−r, a−1; a+b+x−1; z), a series whose terms shrink as x grows
 * instead of blowing up, so heavy buyers cannot overflow it.
 */
function expectedIfAlive(params: BgNbdParams, t: number, x: number, T: number): number {
  // At a = 1 the formula is 0/0 (a removable singularity) and cancels badly close to it; linear
  // interpolation between 1 ± h is accurate to O(h²) ≈ 1e-10 there.
  const offset = params.a - 1;
  if (Math.abs(offset) < A_NEAR_ONE) {
    const below = expectedIfAliveFormula({ ...params, a: 1 - A_NEAR_ONE }, t, x, T);
    const above = expectedIfAliveFormula({ ...params, a: 1 + A_NEAR_ONE }, t, x, T);
    return below + ((offset + A_NEAR_ONE) / (2 * A_NEAR_ONE)) * (above - below);
  }
  return expectedIfAliveFormula(params, t, x, T);
}

function expectedIfAliveFormula({ r, alpha, a, b }: BgNbdParams, t: number, x: number, T: number): number {
  const c = a + b + x - 1;
  const z = t / (alpha + T + t);
  const oneMinusZ = (alpha + T) / (alpha + T + t);
  const euler = 1 - Math.pow(oneMinusZ, a - 1) * hyp2f1(a + b - 1 - r, a - 1, c, z);
  if (Number.isFinite(euler)) return (c / (a - 1)) * euler;
  // A fit at the edge of its space (a few customers, every repeat buyer gone: a in the millions,
  // b near 0) makes the transformed series' terms overflow, while the original one, with c that
  // large against r + x and b + x, is nearly 1 after a term or two.
  return (c / (a - 1)) * (1 - Math.pow(oneMinusZ, r + x) * hyp2f1(r + x, b + x, c, z));
}

/**
 * Expected number of purchases in the next `t` time units of a customer with this calibration
 * summary (the conditional expectation E[Y(t) | frequency, recency, T]).
 */
export function expectedPurchases(
  params: BgNbdParams,
  t: number,
  frequency: number,
  recency: number,
  T: number,
): number {
  return probabilityAlive(params, frequency, recency, T) * expectedIfAlive(params, t, frequency, T);
}

/** E[X(t)]: expected repeat purchases in the first `t` time units after a new customer's first purchase. */
export function expectedPurchasesNewCustomer(params: BgNbdParams, t: number): number {
  return expectedPurchases(params, t, 0, 0, 0);
}
