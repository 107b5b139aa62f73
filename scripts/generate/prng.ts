/**
 * mulberry32: one 32-bit word of state, a handful of integer ops per draw. Its quality is
 * plenty for synthetic data, it is identical on every platform, and it is far faster than
 * anything in node:crypto, which matters at 10M+ events.
 */
export class Rng {
  private state: number;
  private spare = Number.NaN;

  constructor(seed: number) {
    // Mix the seed once so that nearby seeds (1, 2, 3) do not start on correlated paths.
    let s = (Math.floor(seed) ^ 0x5bd1e995) >>> 0;
    s = Math.imul(s ^ (s >>> 16), 0x85ebca6b);
    s = Math.imul(s ^ (s >>> 13), 0xc2b2ae35);
    this.state = (s ^ (s >>> 16)) >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  /** Exponential with the given mean. */
  exp(mean: number): number {
    return -Math.log(1 - this.next()) * mean;
  }

  /** Standard normal (Box-Muller; the second value of each pair is kept for the next call). */
  normal(): number {
    if (!Number.isNaN(this.spare)) {
      const v = this.spare;
      this.spare = Number.NaN;
      return v;
    }
    const u = 1 - this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    const a = 2 * Math.PI * this.next();
    this.spare = r * Math.sin(a);
    return r * Math.cos(a);
  }
}

/** A categorical distribution, drawn by a linear scan (the tables here are short). */
export class Weighted<T> {
  private readonly values: readonly T[];
  private readonly cumulative: Float64Array;

  constructor(entries: ReadonlyArray<readonly [T, number]>) {
    this.values = entries.map(([v]) => v);
    this.cumulative = new Float64Array(entries.length);
    const total = entries.reduce((sum, [, w]) => sum + w, 0);
    let acc = 0;
    entries.forEach(([, w], i) => {
      acc += w / total;
      this.cumulative[i] = acc;
    });
  }

  draw(rng: Rng): T {
    const u = rng.next();
    const last = this.values.length - 1;
    for (let i = 0; i < last; i++) if (u < this.cumulative[i]!) return this.values[i]!;
    return this.values[last]!;
  }
}
