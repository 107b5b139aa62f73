import type { Executor, QueryContext } from '../server/storage/executor.js';
import { rateWithInterval, type FilteredWindow } from './args.js';
import { breakdownLoader, wholeLoader } from './breakdown.js';
import { repeatPurchaseSql } from './repeat-purchase.sql.js';
import { ratio } from './sql.js';

export interface RepeatPurchaseResult {
  customers: number;
  repeatCustomers: number;
  orders: number;
  rate: number | null;
  rateLow: number | null;
  rateHigh: number | null;
  averageOrdersPerCustomer: number | null;
}

type Row = { key: string | null; customers: number; repeat_customers: number; orders: number };

/** Repeat purchase per group key (one key, NULL, without a breakdown); a group without customers has no entry. */
export async function runRepeatPurchase(exec: Executor, ctx: QueryContext, a: FilteredWindow): Promise<Map<string | null, RepeatPurchaseResult>> {
  const rows = await exec.rows<Row>(repeatPurchaseSql(a), ctx);
  return new Map(rows.map((row) => [row.key, repeatPurchaseOf(row)]));
}

function repeatPurchaseOf({ customers, repeat_customers: repeatCustomers, orders }: Omit<Row, 'key'>): RepeatPurchaseResult {
  return {
    customers,
    repeatCustomers,
    orders,
    ...rateWithInterval(repeatCustomers, customers),
    averageOrdersPerCustomer: ratio(orders, customers),
  };
}

export function repeatPurchaseLoaders(exec: Executor, ctx: QueryContext) {
  const run = (a: FilteredWindow) => runRepeatPurchase(exec, ctx, a);
  return {
    repeatPurchase: wholeLoader(run, () => repeatPurchaseOf({ customers: 0, repeat_customers: 0, orders: 0 })),
    repeatPurchaseBy: breakdownLoader(run, (v) => v.customers > 0),
  };
}
