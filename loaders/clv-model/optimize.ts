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
