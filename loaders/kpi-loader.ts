import DataLoader from 'dataloader';

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
