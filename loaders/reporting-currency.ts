import type { Executor } from '../server/executor.js';
import { checkCurrency } from './args.js';
import { ISO_4217 } from './event-codes.js';
import { loadDimensions, type DimensionValue } from './store-dimensions.loader.js';
import type { Warnings } from './warnings.js';

/**
 * How long the store's purchases per currency are reused. The default currency must not cost a
 * scan of purchases per request: one GROUP BY over the `currency` column (LowCardinality) runs
 * at most once per period per process, and a currency's first purchases show up within it.
 */
export const CURRENCY_REFRESH_MS = 10_000;

/** The default of a store without any purchase. */
export const FALLBACK_CURRENCY = 'USD';

/**
 * Purchases per currency up to now, most first (ties in code order), refreshed at most every
 * CURRENCY_REFRESH_MS on the injected clock. The refresh is shared work: it runs under its
 * own query context, never a request's abort signal. An empty or failed answer is not kept.
 */
export class StoreCurrencies {
  private cached: { at: number; list: Promise<DimensionValue[]> } | undefined;

  constructor(
    private readonly exec: Executor,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  list(): Promise<DimensionValue[]> {
    const now = this.clock();
    if (this.cached && now.getTime() - this.cached.at < CURRENCY_REFRESH_MS) return this.cached.list;
    const entry = {
      at: now.getTime(),
      list: loadDimensions(this.exec, { requestId: 'store-currencies' }, [{ dimension: 'currency', asOf: now, probe: [] }], ISO_4217.size).then(([l]) => l!),
    };
    this.cached = entry;
    const forget = () => {
      if (this.cached === entry) this.cached = undefined;
    };
    entry.list.then((l) => l.length === 0 && forget(), forget);
    return entry.list;
  }
}

/** One cache per store: an Executor is one database on one engine. */
const perStore = new WeakMap<Executor, StoreCurrencies>();

export function storeCurrencies(exec: Executor): StoreCurrencies {
  let c = perStore.get(exec);
  if (!c) perStore.set(exec, (c = new StoreCurrencies(exec)));
  return c;
}

export interface CurrencyDeps {
  exec: Executor;
  config: { reportingCurrency: string | undefined };
  warnings?: Warnings;
}

/**
 * The currency of a money KPI: the one asked, else REPORTING_CURRENCY, else the store's most
 * frequent currency by purchases (FALLBACK_CURRENCY in a store without purchases). A currency
 * with no purchase in the store answers zeros and nulls: that gets a warning.
 */
export async function resolveCurrency(asked: string | null | undefined, deps: CurrencyDeps): Promise<string> {
  const chosen = asked ?? deps.config.reportingCurrency;
  if (chosen != null) checkCurrency(chosen);
  const known = await storeCurrencies(deps.exec).list();
  const currency = chosen ?? known[0]?.value ?? FALLBACK_CURRENCY;
  if (!known.some((k) => k.value === currency)) {
    const why = asked != null ? '' : chosen != null ? ' (REPORTING_CURRENCY)' : ' (the default of a store without purchases)';
    deps.warnings?.add({
      code: 'CURRENCY_WITHOUT_PURCHASES',
      field: 'currency',
      message: `The store has no purchase in ${currency}${why}: its money figures are 0 or null. knownValues lists the store's currencies, most purchases first.`,
      knownValues: known.map((k) => k.value),
    });
  }
  return currency;
}
