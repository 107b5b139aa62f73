// Lanczos approximation, g = 7, n = 9: about 15 significant digits of Γ for x >= 0.5.
const LANCZOS_G = 7;
const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
] as const;
const LN_SQRT_2PI = 0.91893853320467274178;

// Above z = 3/4 the fast z → 1 − z connection formula is kept when its estimated relative error
// is below this; otherwise the series is summed too and the better estimate of the two wins.
const CONNECTION_TOLERANCE = 1e-11;
const MAX_SERIES_TERMS = 10_000_000;

function isNonPositiveInteger(x: number): boolean {
  return x <= 0 && Number.isInteger(x);
}

/** ln|Γ(x)|; +Infinity at the poles 0, −1, −2, … */
export function lgamma(x: number): number {
  if (isNonPositiveInteger(x)) return Infinity;
  if (x < 0.5) {
    // Reflection keeps the Lanczos sum where it is accurate.
    return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - lgamma(1 - x);
  }
  const y = x - 1;
  const t = y + LANCZOS_G + 0.5;
  let sum = LANCZOS[0];
  for (let i = 1; i < LANCZOS.length; i++) sum += LANCZOS[i]! / (y + i);
  return LN_SQRT_2PI + (y + 0.5) * Math.log(t) - t + Math.log(sum);
}

// Bernoulli-number coefficients B₂ₖ/(2k) of the asymptotic series of ψ, k = 1 … 7.
const DIGAMMA_ASYMPTOTIC = [1 / 12, -1 / 120, 1 / 252, -1 / 240, 1 / 132, -691 / 32760, 1 / 12] as const;
// From here on the asymptotic series is accurate to about 1e-17.
const DIGAMMA_ASYMPTOTIC_FROM = 10;

/** ψ(x) = d ln Γ(x) / dx; NaN at the poles 0, −1, −2, … */
export function digamma(x: number): number {
  if (isNonPositiveInteger(x)) return NaN;
  if (x < 0.5) return digamma(1 - x) - Math.PI / Math.tan(Math.PI * x);
  // ψ(x) = ψ(x + k) − Σ 1/(x + i) moves small arguments to where the asymptotic series converges fast.
  let shift = 0;
  while (x < DIGAMMA_ASYMPTOTIC_FROM) {
    shift += 1 / x;
    x += 1;
  }
  const inv2 = 1 / (x * x);
  let tail = 0;
  for (let k = DIGAMMA_ASYMPTOTIC.length - 1; k >= 0; k--) tail = (tail + DIGAMMA_ASYMPTOTIC[k]!) * inv2;
  return Math.log(x) - 0.5 / x - tail - shift;
}

function gammaSign(x: number): 1 | -1 {
  return x > 0 || Math.floor(x) % 2 === 0 ? 1 : -1;
}

/** ln B(a, b) for a, b > 0. */
export function lbeta(a: number, b: number): number {
  return lgamma(a) + lgamma(b) - lgamma(a + b);
}

/** A computed value and an estimate of its absolute rounding error. */
interface Estimate {
  value: number;
  error: number;
}

/**
 * Π Γ(num) / Π Γ(den) · exp(logFactor), formed in log space so large Γ values and powers cannot
 * overflow. Each ln Γ(x) is off by about ε·(|ln Γ(x)| + 1), and so the exponent by their sum:
 * `scale` is that sum, the relative error of the result in units of ε.
 */
function gammaRatio(num: readonly number[], den: readonly number[], logFactor: number): { factor: number; scale: number } {
  // 1/Γ vanishes at a pole: that term of the connection formula drops out.
  if (den.some(isNonPositiveInteger)) return { factor: 0, scale: 0 };
  let logAbs = logFactor;
  let scale = Math.abs(logFactor);
  let sign = 1;
  for (const [list, direction] of [[num, 1], [den, -1]] as const) {
    for (const x of list) {
      const l = lgamma(x);
      logAbs += direction * l;
      scale += Math.abs(l) + 1;
      sign *= gammaSign(x);
    }
  }
  return { factor: sign * Math.exp(logAbs), scale };
}

/**
 * The Gauss series Σ (a)ₙ(b)ₙ/((c)ₙ n!) zⁿ for 0 <= z < 1, its error estimated as ε·Σ |term|
 * (what cancellation between terms of both signs leaves); null when it has not converged in
 * MAX_SERIES_TERMS.
 */
function series(a: number, b: number, c: number, z: number): Estimate | null {
  // Until n passes every negative parameter, a term can be tiny by accident and later ones large again.
  const settled = Math.max(0, -a, -b, -c);
  let term = 1;
  let value = 1;
  let magnitude = 1;
  for (let n = 0; n < MAX_SERIES_TERMS; n++) {
    const ratio = (((a + n) * (b + n)) / ((c + n) * (n + 1))) * z;
    term *= ratio;
    value += term;
    magnitude += Math.abs(term);
    // Past `settled` the term ratios move monotonically towards z, so the tail is below |term|·ρ/(1 − ρ).
    const converged =
      n > settled && ratio < 1 && Math.abs(term) <= Number.EPSILON * Math.abs(value) * Math.min(1 - ratio, 1 - z);
    if (term === 0 || converged) return { value, error: Number.EPSILON * magnitude };
  }
  return null;
}

/** factor·sum, where factor's relative error is about ε·scale. */
function scaled(sum: Estimate | null, factor: number, scale: number): Estimate | null {
  if (!sum) return null;
  const value = factor * sum.value;
  return { value, error: Math.abs(factor) * sum.error + Number.EPSILON * scale * Math.abs(value) };
}

function relativeError(e: Estimate | null): number {
  const relative = e ? e.error / Math.abs(e.value) : Infinity;
  return Number.isFinite(relative) ? relative : Infinity;
}

/**
 * The series at 0 <= z < 1 for z above 3/4. With c − a − b < 0 its terms shrink only like
 * n^(a+b−c−1)·zⁿ; Euler's transformation, (1−z)^(c−a−b)·₂F₁(c−a, c−b; c; z), makes that
 * n^(c−a−b−1)·zⁿ, unless it trades terms of one sign (a, b, c > 0) for alternating ones.
 */
function directSeries(a: number, b: number, c: number, z: number): Estimate | null {
  const m = c - a - b;
  const oneSigned = a > 0 && b > 0 && c > 0;
  const eulerOneSigned = c - a > 0 && c - b > 0 && c > 0;
  if (m < 0 && (eulerOneSigned || !oneSigned)) {
    const logPower = m * Math.log(1 - z);
    return scaled(series(c - a, c - b, c, z), Math.exp(logPower), Math.abs(logPower));
  }
  return series(a, b, c, z);
}

/**
 * The z → 1 − z connection formula (Abramowitz & Stegun 15.3.6), whose series converge at least
 * like 4⁻ⁿ for z > 3/4. Its two terms cancel when c − a − b is close to an integer (Γ(c−a−b) and
 * Γ(a+b−c) near their poles) and when a or b is large against 1 − (c − a − b), which makes the
 * first series alternate with huge terms; its Γ factors lose digits when the parameters are large.
 */
function connection(a: number, b: number, c: number, z: number): Estimate | null {
  const m = c - a - b;
  // Then 1 − m or 1 + m is a pole of one of the series.
  if (Number.isInteger(m)) return null;
  const w = 1 - z;
  const p1 = gammaRatio([c, m], [c - a, c - b], 0);
  const p2 = gammaRatio([c, -m], [a, b], m * Math.log(w));
  const first = scaled(series(a, b, 1 - m, w), p1.factor, p1.scale);
  const second = scaled(series(c - a, c - b, 1 + m, w), p2.factor, p2.scale);
  return first && second && { value: first.value + second.value, error: first.error + second.error };
}

/**
 * Gauss hypergeometric function ₂F₁(a, b; c; z) for real parameters and real z < 1
 * (c must not be 0, −1, −2, …).
 *
 * z < 0 is mapped into (0, 1) by Pfaff's transformation; z <= 3/4 uses the series. For z in
 * (3/4, 1) the z → 1 − z connection formula converges fastest, but where its estimated error
 * (cancellation between its terms, digits lost in its Γ factors) exceeds 1e-11 the series is
 * summed too (it converges for every z < 1, only more slowly towards 1) and the value with the
 * smaller error estimate is returned. Checked against mpmath: see docs/clv.md.
 */
export function hyp2f1(a: number, b: number, c: number, z: number): number {
  if (!(z < 1)) throw new RangeError(`hyp2f1 needs z < 1, got ${z}`);
  if (isNonPositiveInteger(c)) throw new RangeError(`hyp2f1 is undefined for c = ${c}`);
  if (z < 0) return Math.pow(1 - z, -a) * hyp2f1(a, c - b, c, z / (z - 1));
  let best: Estimate | null;
  if (z <= 0.75 || isNonPositiveInteger(a) || isNonPositiveInteger(b)) {
    best = series(a, b, c, z);
  } else {
    const viaConnection = connection(a, b, c, z);
    if (relativeError(viaConnection) <= CONNECTION_TOLERANCE) return viaConnection!.value;
    const viaSeries = directSeries(a, b, c, z);
    best = relativeError(viaSeries) <= relativeError(viaConnection) ? viaSeries : viaConnection;
  }
  if (!best) throw new Error(`hyp2f1(${a}, ${b}; ${c}; ${z}) did not converge in ${MAX_SERIES_TERMS} terms`);
  return best.value;
}
