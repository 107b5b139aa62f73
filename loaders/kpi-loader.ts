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
 * A loader for a KPI of a window whose SQL answers many windows in one pass: windows asked in
 * the same tick with otherwise equal arguments (a series' periods) run as one call of `run`,
 * which returns one result per window, in order.
 */
export function windowsLoader<A extends Window, R>(run: (rest: Omit<A, 'from' | 'to'>, windows: Window[]) => Promise<R[]>): DataLoader<A, R, string> {
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
        [...groups.values()].map(async ({ rest, at }) => {
          const results = await run(rest, at.map((i) => ({ from: keys[i]!.from, to: keys[i]!.to })));
          at.forEach((i, j) => (out[i] = results[j]!));
        }),
      );
      return out;
    },
    { cacheKeyFn: argsKey },
  );
}
