import type { Executor } from '../server/storage/executor.js';
import { checkCurrency } from './args.js';
import { ISO_4217 } from './event-codes.js';
import { CALENDAR_END } from './grain.js';
import { byWeight, loadDimensions, type DimensionValue } from './store-dimensions.loader.js';
import type { Warnings } from './warnings.js';

/**
 * How long a count of purchases per currency is reused. The warning about a currency without
 * purchases must not cost a scan of purchases per request: one GROUP BY over the `currency` column (LowCardinality)
 * runs at most once per period per process. This process's own inserts are added to the
 * count as they succeed; the recount picks up what other processes (cluster readers, a
 * demo load before the service started) wrote.
 */
export const CURRENCY_REFRESH_MS = 10_000;

const STORE_END = new Date(CALENDAR_END);

/** The default when REPORTING_CURRENCY is not set (spec section 6). */
export const DEFAULT_CURRENCY = 'USD';

interface Count {
  at: number;
  /** Set once the count is in; this process's inserts are added to it from then on. */
  counts: Map<string, number> | undefined;
  pending: Promise<Map<string, number>>;
}

/**
 * Purchases per currency, most first (ties in code order), recounted at most every
 * CURRENCY_REFRESH_MS on the injected clock. The recount is shared work: it runs under its
 * own query context, never a request's abort signal. A failed count is not kept.
 */
export class StoreCurrencies {
  private count: Count | undefined;

  constructor(
    private readonly exec: Executor,
    private readonly clock: () => Date = () => new Date(),
  ) {
    exec.onInsert((table, rows) => {
      if (table === 'purchases') this.added(rows);
    });
  }

  private added(rows: readonly object[]): void {
    const c = this.count;
    if (!c) return;
    // A count still running may or may not include these rows: count again next time instead of guessing.
    if (!c.counts) {
      this.count = undefined;
      return;
    }
    for (const row of rows) {
      const currency = (row as { currency?: unknown }).currency;
      if (typeof currency === 'string') c.counts.set(currency, (c.counts.get(currency) ?? 0) + 1);
    }
  }

  async list(): Promise<DimensionValue[]> {
    // The counts follow this process's inserts (onInsert): first those of every write acknowledged so far.
    await this.exec.caughtUp({ requestId: 'store-currencies' });
    const now = this.clock();
    let c = this.count;
    if (!c || now.getTime() - c.at >= CURRENCY_REFRESH_MS) {
      // Every purchase the store holds, dated ahead of now too: the warning is about the store,
      // and a query's asOf may lie ahead of the clock.
      const counting = loadDimensions(this.exec, { requestId: 'store-currencies' }, [{ dimension: 'currency', asOf: STORE_END, probe: [] }], ISO_4217.size);
      const fresh: Count = { at: now.getTime(), counts: undefined, pending: counting.then(([l]) => new Map(l!.map((v) => [v.value, v.n]))) };
      fresh.pending.then(
        (m) => (fresh.counts ??= m),
        () => this.count === fresh && (this.count = undefined),
      );
      this.count = c = fresh;
    }
    const counts = c.counts ?? (await c.pending);
    return [...counts].map(([value, n]) => ({ value, n })).sort(byWeight);
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
 * The currency of a money KPI: the one asked, else REPORTING_CURRENCY, else USD (spec section
 * 6). A currency with no purchase in the store answers zeros and nulls: that gets a warning
 * naming the store's currencies.
 */
export async function resolveCurrency(asked: string | null | undefined, deps: CurrencyDeps): Promise<string> {
  const currency = asked ?? deps.config.reportingCurrency ?? DEFAULT_CURRENCY;
  checkCurrency(currency);
  const known = await storeCurrencies(deps.exec).list();
  if (!known.some((k) => k.value === currency)) {
    const why = asked != null ? '' : deps.config.reportingCurrency != null ? ' (REPORTING_CURRENCY)' : ' (the default: set REPORTING_CURRENCY to change it)';
    deps.warnings?.add({
      code: 'CURRENCY_WITHOUT_PURCHASES',
      field: 'currency',
      message: `The store has no purchase in ${currency}${why}: its money figures are 0 or null. knownValues lists the store's currencies, most purchases first.`,
      knownValues: known.map((k) => k.value),
    });
  }
  return currency;
}
