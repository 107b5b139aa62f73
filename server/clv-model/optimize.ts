/** Raised when a model's likelihood could not be maximised; the message says why. */
export class ModelFitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelFitError';
  }
}

export interface MinimizeOptions {
  /** Edge length of the starting simplex. */
  step?: number;
  /** Converged when the simplex values span at most this much … */
  valueTolerance?: number;
  /** … and every vertex lies within this distance of the best one in every coordinate. */
  pointTolerance?: number;
  maxEvaluations?: number;
  /** Fresh simplices built around the best point after convergence. */
  maxRestarts?: number;
}

export interface MinimizeResult {
  x: number[];
  value: number;
  evaluations: number;
  converged: boolean;
}

/**
 * Nelder–Mead minimisation. A simplex can collapse onto a line and stall short of the minimum,
 * so after each convergence it is rebuilt around the best point; the search ends when a restart
 * no longer improves the value.
 */
export function nelderMead(
  f: (x: readonly number[]) => number,
  x0: readonly number[],
  options: MinimizeOptions = {},
): MinimizeResult {
  const {
    step = 0.5,
    valueTolerance = 1e-10,
    pointTolerance = 1e-6,
    maxEvaluations = 20_000,
    maxRestarts = 10,
  } = options;
  let evaluations = 0;
  // Non-finite values (overflow far from the optimum) count as worse than any finite one.
  const value = (x: readonly number[]): number => {
    evaluations++;
    const v = f(x);
    return Number.isFinite(v) ? v : Infinity;
  };

  let best = { x: [...x0], value: value(x0) };
  for (let restart = 0; restart <= maxRestarts; restart++) {
    const run = simplexSearch(value, best.x, step, valueTolerance, pointTolerance, () => evaluations >= maxEvaluations);
    const improvement = best.value - run.value;
    if (run.value <= best.value) best = run;
    if (evaluations >= maxEvaluations) return { ...best, evaluations, converged: false };
    if (improvement <= valueTolerance) return { ...best, evaluations, converged: true };
  }
  return { ...best, evaluations, converged: false };
}

function simplexSearch(
  value: (x: readonly number[]) => number,
  start: readonly number[],
  step: number,
  valueTolerance: number,
  pointTolerance: number,
  exhausted: () => boolean,
): { x: number[]; value: number } {
  const n = start.length;
  const points = [[...start]];
  for (let i = 0; i < n; i++) points.push(start.map((v, j) => (i === j ? v + step : v)));
  let vertices = points.map((x) => ({ x, value: value(x) }));

  const along = (from: readonly number[], to: readonly number[], t: number): number[] =>
    from.map((v, j) => v + t * (to[j]! - v));

  for (;;) {
    vertices.sort((p, q) => p.value - q.value);
    const lowest = vertices[0]!;
    const highest = vertices[n]!;
    const spread = highest.value - lowest.value;
    const size = Math.max(...vertices.map((p) => Math.max(...p.x.map((v, j) => Math.abs(v - lowest.x[j]!)))));
    if ((spread <= valueTolerance && size <= pointTolerance) || exhausted()) return lowest;

    const kept = vertices.slice(0, n);
    const centroid = lowest.x.map((_, j) => kept.reduce((sum, p) => sum + p.x[j]!, 0) / n);

    const reflected = along(centroid, highest.x, -1);
    const fr = value(reflected);
    if (fr < lowest.value) {
      const expanded = along(centroid, highest.x, -2);
      const fe = value(expanded);
      vertices[n] = fe < fr ? { x: expanded, value: fe } : { x: reflected, value: fr };
      continue;
    }
    if (fr < vertices[n - 1]!.value) {
      vertices[n] = { x: reflected, value: fr };
      continue;
    }
    const outside = fr < highest.value;
    const contracted = along(centroid, outside ? reflected : highest.x, 0.5);
    const fc = value(contracted);
    if (fc < (outside ? fr : highest.value)) {
      vertices[n] = { x: contracted, value: fc };
      continue;
    }
    vertices = vertices.map((p, i) => {
      if (i === 0) return p;
      const x = along(lowest.x, p.x, 0.5);
      return { x, value: value(x) };
    });
  }
}

/** A function's value and gradient at one point. */
export interface ValueAndGradient {
  value: number;
  gradient: readonly number[];
}

export interface GradientOptions {
  /** Converged when no component of the gradient exceeds this in absolute value … */
  gradientTolerance?: number;
  /** … or when a full step is predicted to lower the value by at most this much, relative to it. */
  valueTolerance?: number;
  maxIterations?: number;
}

// Wolfe constants of Nocedal & Wright: sufficient decrease c₁, curvature c₂ (0.9 suits quasi-Newton).
const SUFFICIENT_DECREASE = 1e-4;
const CURVATURE = 0.9;
const MAX_LINE_SEARCH_STEPS = 20;

interface Trial {
  step: number;
  value: number;
  /** Directional derivative along the search direction. */
  slope: number;
  x: number[];
  gradient: readonly number[];
}

const dot = (u: readonly number[], v: readonly number[]): number => u.reduce((s, ui, i) => s + ui * v[i]!, 0);
const maxAbs = (v: readonly number[]): number => v.reduce((m, vi) => Math.max(m, Math.abs(vi)), 0);

/**
 * A step along `direction` satisfying the strong Wolfe conditions (Nocedal & Wright, algorithms
 * 3.5 and 3.6), or the lowest point found that decreases the value enough, or null. Non-finite
 * values (overflow far from the optimum) count as too far.
 */
function wolfeStep(
  fg: (x: readonly number[]) => ValueAndGradient,
  x: readonly number[],
  start: Trial,
  direction: readonly number[],
  count: () => void,
): Trial | null {
  const at = (step: number): Trial => {
    count();
    const point = x.map((xi, i) => xi + step * direction[i]!);
    const { value, gradient } = fg(point);
    const finite = Number.isFinite(value) && gradient.every(Number.isFinite);
    return { step, value: finite ? value : Infinity, slope: finite ? dot(gradient, direction) : NaN, x: point, gradient };
  };
  const sufficient = (t: Trial): boolean => t.value <= start.value + SUFFICIENT_DECREASE * t.step * start.slope;
  const flat = (t: Trial): boolean => Math.abs(t.slope) <= -CURVATURE * start.slope;

  let steps = 0;
  // Between lo (sufficient decrease, lowest so far) and hi the interval holds a Wolfe point.
  const zoom = (lo: Trial, hi: Trial): Trial | null => {
    while (steps++ < MAX_LINE_SEARCH_STEPS) {
      const width = hi.step - lo.step;
      // The minimum of the quadratic through lo's value and slope and hi's value, kept off both ends.
      const quadratic = Number.isFinite(hi.value)
        ? lo.step - (lo.slope * width * width) / (2 * (hi.value - lo.value - lo.slope * width))
        : NaN;
      const [low, high] = [lo.step + 0.1 * width, hi.step - 0.1 * width].sort((p, q) => p - q) as [number, number];
      const step = Number.isFinite(quadratic) ? Math.min(high, Math.max(low, quadratic)) : lo.step + 0.5 * width;
      const trial = at(step);
      if (!sufficient(trial) || trial.value >= lo.value) {
        hi = trial;
        continue;
      }
      if (flat(trial)) return trial;
      if (trial.slope * (hi.step - lo.step) >= 0) hi = lo;
      lo = trial;
    }
    return lo.step > 0 ? lo : null;
  };

  let previous = start;
  let step = 1;
  while (steps++ < MAX_LINE_SEARCH_STEPS) {
    const trial = at(step);
    if (!sufficient(trial) || (previous.step > 0 && trial.value >= previous.value)) return zoom(previous, trial);
    if (flat(trial)) return trial;
    if (trial.slope >= 0) return zoom(trial, previous);
    previous = trial;
    step *= 2;
  }
  return previous.step > 0 ? previous : null;
}

/**
 * BFGS quasi-Newton minimisation with a strong Wolfe line search, for smooth functions of a few
 * variables with an analytic gradient. The inverse Hessian estimate starts as the identity,
 * rescaled to the curvature seen on the first step (Nocedal & Wright 6.20); when a search along
 * its direction fails it is reset that way once before giving up.
 */
export function bfgs(
  fg: (x: readonly number[]) => ValueAndGradient,
  x0: readonly number[],
  options: GradientOptions = {},
): MinimizeResult {
  const { gradientTolerance = 1e-9, valueTolerance = 1e-14, maxIterations = 200 } = options;
  const n = x0.length;
  let evaluations = 1;
  const first = fg(x0);
  let current: Trial = { step: 0, value: first.value, slope: 0, x: [...x0], gradient: first.gradient };
  if (!Number.isFinite(current.value) || !current.gradient.every(Number.isFinite)) {
    return { x: [...x0], value: current.value, evaluations, converged: false };
  }
  const identity = (): number[][] => Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 1 : 0)));
  let inverseHessian = identity();
  let fresh = true;
  for (let iteration = 0; iteration < maxIterations; iteration++) {
    const direction = inverseHessian.map((row) => -dot(row, current.gradient));
    const slope = dot(current.gradient, direction);
    // −slope/2 is the decrease a full quasi-Newton step promises (once the estimate has seen some
    // curvature): below the value's rounding, the line search could not even tell it from noise.
    const settled = !fresh && slope < 0 && -slope / 2 <= valueTolerance * Math.max(1, Math.abs(current.value));
    if (settled || maxAbs(current.gradient) <= gradientTolerance) {
      return { x: current.x, value: current.value, evaluations, converged: true };
    }
    const next = slope < 0 ? wolfeStep(fg, current.x, { ...current, step: 0, slope }, direction, () => evaluations++) : null;
    if (!next) {
      if (fresh) break;
      inverseHessian = identity();
      fresh = true;
      continue;
    }
    const s = next.x.map((v, i) => v - current.x[i]!);
    const y = next.gradient.map((v, i) => v - current.gradient[i]!);
    const sy = dot(s, y);
    // Without positive curvature along the step the update would lose positive definiteness: skip it.
    if (sy > 1e-12 * Math.sqrt(dot(s, s) * dot(y, y))) {
      if (fresh) inverseHessian = inverseHessian.map((row) => row.map((v) => (v * sy) / dot(y, y)));
      const hy = inverseHessian.map((row) => dot(row, y));
      const yhy = dot(y, hy);
      // H ← H − (H y sᵀ + s yᵀ H)/sᵀy + (1 + yᵀHy/sᵀy) s sᵀ/sᵀy
      inverseHessian = inverseHessian.map((row, i) =>
        row.map((v, j) => v - (hy[i]! * s[j]! + s[i]! * hy[j]!) / sy + ((1 + yhy / sy) * s[i]! * s[j]!) / sy),
      );
    }
    fresh = false;
    current = next;
  }
  return { x: current.x, value: current.value, evaluations, converged: maxAbs(current.gradient) <= gradientTolerance };
}

/**
 * BFGS on the analytic gradient, and Nelder–Mead from the best point it reached should it fail to
 * converge (a gradient spoiled by rounding near the optimum, or a very flat likelihood).
 */
export function minimize(fg: (x: readonly number[]) => ValueAndGradient, x0: readonly number[]): MinimizeResult {
  const quasiNewton = bfgs(fg, x0);
  if (quasiNewton.converged) return quasiNewton;
  const start = Number.isFinite(quasiNewton.value) ? quasiNewton.x : x0;
  const simplex = nelderMead((x) => fg(x).value, start);
  return { ...simplex, evaluations: quasiNewton.evaluations + simplex.evaluations };
}
