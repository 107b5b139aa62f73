import DataLoader from 'dataloader';
import { chunkByBytes, type Executor, type QueryContext } from '../server/storage/executor.js';
import type { FilteredWindow } from './args.js';
import { customerStatsSql, newCustomersSql } from './customers.sql.js';
import { windowsLoader } from './kpi-loader.js';
import { fromChDateTime } from './sql.js';

export interface CustomerStats {
  customerId: string;
  firstPurchaseAt: Date | null;
  lastPurchaseAt: Date | null;
  orders: number;
  revenue: { currency: string; amount: number }[];
  country: string | null;
  channel: string | null;
  segment: string | null;
}

type Row = {
  customer_id: string;
  first_at: string;
  last_at: string;
  orders: number;
  revenue: [string, string][];
  country: string | null;
  channel: string | null;
  segment: string | null;
  /** 1 when an event other than a purchase or a refund names the customer as of asOf. */
  named: number | boolean;
};

/** Most ids one `customers` call, and one batch of `customer` calls, may ask for. */
export const MAX_CUSTOMER_IDS = 10_000;

/**
 * The distinct ids of a batch in statements of at most PARAM_CHUNK_BYTES: server mode binds
 * them in the URL, and 10 000 ids of 128 characters are 1.3 MB.
 */
export function customerStatsChunks(ids: readonly string[]): string[][] {
  return chunkByBytes([...new Set(ids)], (id) => id);
}

/** Unknown ids come back as null: no order as of asOf and no other event naming them (customers.sql.ts). */
async function loadStats(exec: Executor, ctx: QueryContext, ids: readonly string[], asOf: Date): Promise<(CustomerStats | null)[]> {
  const byId = new Map<string, Row>();
  for (const chunk of customerStatsChunks(ids)) {
    for (const r of await exec.rows<Row>(customerStatsSql(chunk, asOf), ctx)) byId.set(r.customer_id, r);
  }
  return ids.map((id) => {
    const r = byId.get(id);
    if (!r || (r.orders === 0 && !r.named)) return null;
    const bought = r.orders > 0;
    return {
      customerId: id,
      firstPurchaseAt: bought ? fromChDateTime(r.first_at) : null,
      lastPurchaseAt: bought ? fromChDateTime(r.last_at) : null,
      orders: r.orders,
      revenue: bought ? r.revenue.map(([currency, amount]) => ({ currency, amount: Number(amount) })) : [],
      country: r.country,
      channel: r.channel,
      segment: r.segment,
    };
  });
}

export function customerLoaders(exec: Executor, ctx: QueryContext) {
  // One batching loader per asOf: every customer(id) of a document with the same asOf shares one query.
  const byAsOf = new Map<number, DataLoader<string, CustomerStats | null>>();
  return {
    customerStats(asOf: Date): DataLoader<string, CustomerStats | null> {
      let loader = byAsOf.get(asOf.getTime());
      if (!loader) {
        loader = new DataLoader((ids: readonly string[]) => loadStats(exec, ctx, ids, asOf), { maxBatchSize: MAX_CUSTOMER_IDS });
        byAsOf.set(asOf.getTime(), loader);
      }
      return loader;
    },
    newCustomers: windowsLoader<FilteredWindow, number>(async (a, windows) => {
      const n = new Map((await exec.rows<{ w: number; n: number }>(newCustomersSql(a, windows), ctx)).map((r) => [r.w, r.n]));
      return windows.map((_, i) => n.get(i + 1) ?? 0);
    }),
  };
}
