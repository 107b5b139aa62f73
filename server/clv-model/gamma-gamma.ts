import { minimize, ModelFitError } from './optimize.js';
import { digamma, lgamma } from './special.js';

/**
 * Gamma-Gamma spend model (Fader, Hardie & Lee 2005, "RFM and CLV"). Each order of a customer is
 * worth Gamma(p, ν); the customer's ν varies across customers as Gamma(q, v). Spend is assumed
 * independent of purchase frequency.
 */
export interface GammaGammaParams {
  p: number;
  q: number;
  v: number;
}

/** `count` repeat customers with `frequency` repeat purchases worth `monetaryValue` on average. */
export interface MonetaryRow {
  frequency: number;
  monetaryValue: number;
  count: number;
}

export interface GammaGammaFit {
  params: GammaGammaParams;
  /** Total log-likelihood over all customers (not per row). */
  logLikelihood: number;
}

interface FrequencyGroup {
  x: number;
  customers: number;
  /** Σ count · ln m, the only place m enters outside the ln(x·m + v) term. */
  weightedLogM: number;
  m: Float64Array;
  count: Float64Array;
}

function checkRow(row: MonetaryRow, i: number): void {
  const ok =
    Number.isInteger(row.frequency) &&
    row.frequency >= 1 &&
    row.monetaryValue > 0 &&
    Number.isFinite(row.monetaryValue) &&
    row.count > 0 &&
    Number.isFinite(row.count);
  if (!ok) {
    // A first purchase says nothing about spend beyond acquisition, so customers without repeat
    // purchases are left out by the caller rather than silently here.
    throw new RangeError(
      `monetary row ${i} needs an integer frequency >= 1 and a positive monetaryValue: ${JSON.stringify(row)}`,
    );
  }
}

function groupByFrequency(rows: readonly MonetaryRow[]): FrequencyGroup[] {
  const groupIndex = new Map<number, number>();
  const sizes: number[] = [];
  rows.forEach((row, i) => {
    checkRow(row, i);
    const g = groupIndex.get(row.frequency);
    if (g === undefined) {
      groupIndex.set(row.frequency, sizes.length);
      sizes.push(1);
    } else {
      sizes[g]!++;
    }
  });
  const groups: FrequencyGroup[] = [...groupIndex.keys()].map((x, g) => ({
    x,
    customers: 0,
    weightedLogM: 0,
    m: new Float64Array(sizes[g]!),
    count: new Float64Array(sizes[g]!),
  }));
  const filled = new Int32Array(groups.length);
  for (const row of rows) {
    const g = groupIndex.get(row.frequency)!;
    const group = groups[g]!;
    const i = filled[g]!++;
    group.m[i] = row.monetaryValue;
    group.count[i] = row.count;
    group.customers += row.count;
    group.weightedLogM += row.count * Math.log(row.monetaryValue);
  }
  return groups;
}

interface LogLikelihood {
  value: number;
  /** ∂/∂p, ∂/∂q, ∂/∂v. */
  gradient: [number, number, number];
}

function logLikelihoodOf(groups: readonly FrequencyGroup[], { p, q, v }: GammaGammaParams): LogLikelihood {
  const lnV = Math.log(v);
  const base = q * lnV - lgamma(q);
  const digammaQ = digamma(q);
  let value = 0;
  let [dp, dq, dv] = [0, 0, 0];
  for (const { x, customers, weightedLogM, m, count } of groups) {
    const px = p * x;
    const lnX = Math.log(x);
    const digammaPXQ = digamma(px + q);
    // Σ count·ln(x·m + v) and Σ count/(x·m + v)
    let tail = 0;
    let inverseTail = 0;
    for (let i = 0; i < m.length; i++) {
      const spend = x * m[i]! + v;
      tail += count[i]! * Math.log(spend);
      inverseTail += count[i]! / spend;
    }
    value += customers * (base + lgamma(px + q) - lgamma(px) + px * lnX) + (px - 1) * weightedLogM - (px + q) * tail;
    dp += x * (customers * (digammaPXQ - digamma(px) + lnX) + weightedLogM - tail);
    dq += customers * (lnV - digammaQ + digammaPXQ) - tail;
    dv += (customers * q) / v - (px + q) * inverseTail;
  }
  return { value, gradient: [dp, dq, dv] };
}

/** Total Gamma-Gamma log-likelihood of the repeat customers in `rows`. */
export function gammaGammaLogLikelihood(params: GammaGammaParams, rows: readonly MonetaryRow[]): number {
  return logLikelihoodOf(groupByFrequency(rows), params).value;
}

/** ∂/∂θ of `gammaGammaLogLikelihood` for each parameter θ, as the fit uses it. */
export function gammaGammaLogLikelihoodGradient(params: GammaGammaParams, rows: readonly MonetaryRow[]): GammaGammaParams {
  const [p, q, v] = logLikelihoodOf(groupByFrequency(rows), params).gradient;
  return { p, q, v };
}

/**
 * Maximum-likelihood Gamma-Gamma parameters from repeat customers only (frequency >= 1): BFGS on
 * log-parameters with the analytic gradient, Nelder–Mead should it not converge.
 */
export function fitGammaGamma(rows: readonly MonetaryRow[]): GammaGammaFit {
  const groups = groupByFrequency(rows);
  let customers = 0;
  let spend = 0;
  for (const g of groups) {
    customers += g.customers;
    for (let i = 0; i < g.m.length; i++) spend += g.count[i]! * g.m[i]!;
  }
  if (customers === 0) throw new ModelFitError('Gamma-Gamma needs at least one repeat customer');
  const toParams = ([lp, lq, lv]: readonly number[]): GammaGammaParams => ({
    p: Math.exp(lp!),
    q: Math.exp(lq!),
    v: Math.exp(lv!),
  });
  // p = 1, q = 2 and v = mean spend make the model's mean order value p·v/(q−1) match the data,
  // whatever the currency's scale.
  const start = [0, Math.log(2), Math.log(spend / customers)];
  const result = minimize((lp) => {
    const params = toParams(lp);
    const { value, gradient } = logLikelihoodOf(groups, params);
    // d/d ln θ = θ · d/dθ
    const scale = [params.p, params.q, params.v].map((theta) => -theta / customers);
    return { value: -value / customers, gradient: gradient.map((d, i) => d * scale[i]!) };
  }, start);
  if (!result.converged) {
    throw new ModelFitError(`Gamma-Gamma fit did not converge after ${result.evaluations} likelihood evaluations`);
  }
  return { params: toParams(result.x), logLikelihood: -result.value * customers };
}

/**
 * Expected value of this customer's future orders: a credibility-weighted mix of the population
 * mean p·v/(q−1) and the customer's own mean, trusting the latter more the more orders it rests on.
 * With frequency 0 `monetaryValue` is ignored and the population mean is returned.
 */
export function expectedAverageOrderValue(
  { p, q, v }: GammaGammaParams,
  frequency: number,
  monetaryValue: number,
): number {
  const denominator = p * frequency + q - 1;
  if (!(denominator > 0)) {
    throw new RangeError(`expected order value is infinite when p·frequency + q <= 1 (q = ${q})`);
  }
  return frequency === 0 ? (p * v) / denominator : (p * (v + frequency * monetaryValue)) / denominator;
}
