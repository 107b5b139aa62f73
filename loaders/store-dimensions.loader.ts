import DataLoader from 'dataloader';
import type { Executor, QueryContext } from '../server/storage/executor.js';
import { ATTRIBUTE_NAMES, type CustomerFilterArgs } from './customer-filter.js';
import { argsKey } from './kpi-loader.js';
import { DIMENSION_LIMIT, storeDimensionsSql, type Dimension, type DimensionKey } from './store-dimensions.sql.js';
import { KNOWN_VALUES_SHOWN, type Warnings } from './warnings.js';

export interface DimensionValue {
  value: string;
  /** Its weight: purchases for a currency, customers otherwise (store-dimensions.sql.ts). */
  n: number;
}

export interface StoreDimensions {
  currencies: string[];
  countries: string[];
  channels: string[];
  segments: string[];
  surveyIds: string[];
}

/** Heaviest first; equal weights in code point order, as ClickHouse orders strings (UTF-8 bytes). */
export function byWeight(a: DimensionValue, b: DimensionValue): number {
  return b.n - a.n || Buffer.compare(Buffer.from(a.value), Buffer.from(b.value));
}

/** Each key's values, heaviest first, from one statement. */
export async function loadDimensions(exec: Executor, ctx: QueryContext, keys: readonly DimensionKey[], limit = DIMENSION_LIMIT): Promise<DimensionValue[][]> {
  const rows = await exec.rows<{ branch: number; value: string; n: number }>(storeDimensionsSql([...keys], limit), ctx);
  const lists = keys.map((): DimensionValue[] => []);
  for (const r of rows) lists[r.branch]!.push({ value: r.value, n: r.n });
  return lists.map((l) => l.sort(byWeight));
}

export function storeDimensionsLoaders(exec: Executor, ctx: QueryContext) {
  return { dimensionValues: new DataLoader<DimensionKey, DimensionValue[], string>((keys) => loadDimensions(exec, ctx, keys), { cacheKeyFn: argsKey }) };
}

type DimensionLoader = ReturnType<typeof storeDimensionsLoaders>['dimensionValues'];

/** The store's values as of `asOf`, at most DIMENSION_LIMIT per list, heaviest first. */
export async function runStoreDimensions(loader: DimensionLoader, asOf: Date): Promise<StoreDimensions> {
  const top = async (dimension: Dimension) => (await loader.load({ dimension, asOf, probe: [] })).map((v) => v.value);
  const [currencies, countries, channels, segments, surveyIds] = await Promise.all([top('currency'), top('country'), top('channel'), top('segment'), top('surveyId')]);
  return { currencies, countries, channels, segments, surveyIds };
}

/**
 * A filter value that no customer's latest profile holds as of `asOf` selects nobody: the
 * answer is right but almost surely a typo, so it gets a warning listing the known values.
 */
export async function warnUnknownFilterValues(loader: DimensionLoader, warnings: Warnings, filter: CustomerFilterArgs, asOf: Date): Promise<void> {
  const checked = ATTRIBUTE_NAMES.flatMap((attribute) => {
    const values = filter[attribute];
    return values ? [{ attribute, values, known: loader.load({ dimension: attribute, asOf, probe: values }) }] : [];
  });
  const lists = await Promise.all(checked.map((c) => c.known));
  checked.forEach(({ attribute, values }, i) => {
    const list = lists[i]!;
    const present = new Set(list.map((k) => k.value));
    const missing = values.filter((v) => !present.has(v));
    if (missing.length === 0) return;
    warnings.add({
      code: 'UNKNOWN_FILTER_VALUE',
      field: `filter.${attribute}`,
      message:
        `No customer's latest profile as of ${asOf.toISOString()} has ${attribute} ${missing.map((v) => JSON.stringify(v)).join(', ')}, ` +
        `so it selects nobody; knownValues lists the ${KNOWN_VALUES_SHOWN} most common at most.`,
      knownValues: list.map((k) => k.value),
    });
  });
}
