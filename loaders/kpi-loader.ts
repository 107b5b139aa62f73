import DataLoader from 'dataloader';
import type { Window } from './args.js';

/** Stable key for an argument object: same arguments, same key, whatever the order of fields. */
export function argsKey(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => {
    if (v instanceof Date) return v.toISOString();
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      return Object.fromEntries(Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined).sort(([a], [b]) => (a < b ? -1 : 1)));
    }
    return v;
  });
}

/**
 * A request-scoped loader for one KPI: a document that asks the same KPI with the same
 * arguments twice (aliases, fragments, the snapshot) runs its SQL once.
 */
export function kpiLoader<A, R>(run: (args: A) => Promise<R>): DataLoader<A, R, string> {
  return new DataLoader<A, R, string>((keys) => Promise.all(keys.map((k) => run(k))), { cacheKeyFn: argsKey });
}

/**
 * Windows holding one instant that one statement grouping per (customer, window) takes (repeat
 * purchase, the CLV summary): an alert run's windows of one filter (a day, a week, a month, 30
 * days and the ones before them) fit, a document of many overlapping aliases is split.
 */
export const GROUPED_WINDOWS_DEPTH = 8;

/**
 * A loader for a KPI of a window whose SQL answers many windows in one pass: windows asked in
 * the same tick with otherwise equal arguments (a series' periods) run as one call of `run`,
 * which returns one result per window, in order. With `maxDepth`, one call takes windows of
 * which at most that many hold any one instant: a statement that groups per (customer, window)
 * then needs at most that many times one window's memory, whatever a document overlaps, and
 * disjoint windows (a series) still run as one call.
 */
export function windowsLoader<A extends Window, R>(run: (rest: Omit<A, 'from' | 'to'>, windows: Window[]) => Promise<R[]>, maxDepth = Infinity): DataLoader<A, R, string> {
  return new DataLoader<A, R, string>(
    async (keys) => {
      const groups = new Map<string, { rest: Omit<A, 'from' | 'to'>; at: number[] }>();
      keys.forEach((key, i) => {
        const { from: _from, to: _to, ...rest } = key;
        const id = argsKey(rest);
        const group = groups.get(id) ?? { rest, at: [] };
        group.at.push(i);
        groups.set(id, group);
      });
      const out: R[] = [];
      await Promise.all(
        [...groups.values()].flatMap(({ rest, at }) =>
          shallowRuns(at, keys, maxDepth).map(async (part) => {
            const results = await run(rest, part.map((i) => ({ from: keys[i]!.from, to: keys[i]!.to })));
            part.forEach((i, j) => (out[i] = results[j]!));
          }),
        ),
      );
      return out;
    },
    { cacheKeyFn: argsKey },
  );
}

/**
 * The positions `at` of `windows` cut into runs, in order of start, none with more than
 * `maxDepth` windows holding one instant. In that order the deepest point a window adds is its
 * own start, so it is checked there: the windows of the run that end after it.
 */
function shallowRuns(at: number[], windows: readonly Window[], maxDepth: number): number[][] {
  if (at.length <= maxDepth) return [at];
  const sorted = [...at].sort((a, b) => windows[a]!.from.getTime() - windows[b]!.from.getTime());
  const runs: number[][] = [];
  let current: number[] = [];
  for (const i of sorted) {
    const start = windows[i]!.from.getTime();
    if (current.filter((j) => windows[j]!.to.getTime() > start).length + 1 > maxDepth) {
      runs.push(current);
      current = [];
    }
    current.push(i);
  }
  runs.push(current);
  return runs;
}
