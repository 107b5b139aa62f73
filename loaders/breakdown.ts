// Shaping a breakdown's answer (spec section 13): the builders return rows with a `key`
// column (breakdown.sql.ts); each KPI's loader shapes the rows of one key exactly as it
// shapes its whole answer, and these helpers split, keep, order and bound the groups.
import { MAX_GROUPS, type Breakdown } from './breakdown.sql.js';
import { BadInputError } from './errors.js';
import { kpiLoader } from './kpi-loader.js';

export interface Group<V> {
  key: string | null;
  value: V;
}

/** Rows split by their `key`. */
export function rowsByKey<R extends { key: string | null }>(rows: R[]): Map<string | null, R[]> {
  const out = new Map<string | null, R[]>();
  for (const row of rows) {
    const list = out.get(row.key);
    if (list) list.push(row);
    else out.set(row.key, [row]);
  }
  return out;
}

/** UTF-8 byte order, which is code point order: the order ClickHouse sorts strings in. */
function compareKeys(a: string | null, b: string | null): number {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/**
 * The groups whose value `counts` at least one customer (or response), ordered by key with
 * null last. More than MAX_GROUPS is refused: the answer would be a list of customers.
 */
export function keptGroups<V>(values: Iterable<[string | null, V]>, counts: (v: V) => boolean, by: Breakdown): Group<V>[] {
  const groups = [...values].filter(([, v]) => counts(v)).map(([key, value]) => ({ key, value }));
  if (groups.length > MAX_GROUPS) {
    throw new BadInputError(`"by: ${by}" makes ${groups.length} groups; a breakdown answers at most ${MAX_GROUPS}: filter first`, 'by');
  }
  return groups.sort((a, b) => compareKeys(a.key, b.key));
}

/**
 * A request-scoped loader of a KPI's breakdown: `run` answers the KPI per group key in one
 * query (a Map by key), and the loader keeps the groups that count someone.
 */
export function breakdownLoader<A, V>(run: (a: A) => Promise<Map<string | null, V>>, counts: (v: V) => boolean) {
  return kpiLoader(async (a: A & { by: Breakdown }): Promise<Group<V>[]> => keptGroups((await run(a)).entries(), counts, a.by));
}

/** The KPI without a breakdown: every row has the key NULL, and no row at all is `empty`. */
export function wholeLoader<A, V>(run: (a: A) => Promise<Map<string | null, V>>, empty: (a: A) => V) {
  return kpiLoader(async (a: A): Promise<V> => (await run(a)).get(null) ?? empty(a));
}
