import type { Executor, QueryContext } from '../server/storage/executor.js';
import { rateWithInterval, type FilteredWindow } from './args.js';
import { breakdownLoader } from './breakdown.js';
import { GROUPED_WINDOWS_DEPTH, windowsLoader } from './kpi-loader.js';
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

type Row = { key: string | null; w: number; customers: number; repeat_customers: number; orders: number };

const NONE = { customers: 0, repeat_customers: 0, orders: 0 };

/** Repeat purchase per group key of a breakdown; a group without customers has no entry. */
async function runRepeatPurchase(exec: Executor, ctx: QueryContext, { from, to, ...a }: FilteredWindow): Promise<Map<string | null, RepeatPurchaseResult>> {
  const rows = await exec.rows<Row>(repeatPurchaseSql(a, [{ from, to }]), ctx);
  return new Map(rows.map((row) => [row.key, repeatPurchaseOf(row)]));
}

function repeatPurchaseOf({ customers, repeat_customers: repeatCustomers, orders }: Omit<Row, 'key' | 'w'>): RepeatPurchaseResult {
  return {
    customers,
    repeatCustomers,
    orders,
    ...rateWithInterval(repeatCustomers, customers),
    averageOrdersPerCustomer: ratio(orders, customers),
  };
}

export function repeatPurchaseLoaders(exec: Executor, ctx: QueryContext) {
  return {
    // Windows asked in one tick (a series' periods, an alert run's windows) share one statement.
    repeatPurchase: windowsLoader<FilteredWindow, RepeatPurchaseResult>(async (a, windows) => {
      const byWindow = new Map((await exec.rows<Row>(repeatPurchaseSql(a, windows), ctx)).map((row) => [row.w, row]));
      return windows.map((_, i) => repeatPurchaseOf(byWindow.get(i + 1) ?? NONE));
    }, GROUPED_WINDOWS_DEPTH),
    repeatPurchaseBy: breakdownLoader((a: FilteredWindow) => runRepeatPurchase(exec, ctx, a), (v) => v.customers > 0),
  };
}
