import type { Executor, QueryContext } from '../server/storage/executor.js';
import { rateWithInterval, type FilteredWindow } from './args.js';
import { kpiLoader } from './kpi-loader.js';
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

export async function runRepeatPurchase(exec: Executor, ctx: QueryContext, a: FilteredWindow): Promise<RepeatPurchaseResult> {
  const [row] = await exec.rows<{ customers: number; repeat_customers: number; orders: number }>(repeatPurchaseSql(a), ctx);
  const { customers, repeat_customers: repeatCustomers, orders } = row!;
  return {
    customers,
    repeatCustomers,
    orders,
    ...rateWithInterval(repeatCustomers, customers),
    averageOrdersPerCustomer: ratio(orders, customers),
  };
}

export function repeatPurchaseLoaders(exec: Executor, ctx: QueryContext) {
  return { repeatPurchase: kpiLoader((a: FilteredWindow) => runRepeatPurchase(exec, ctx, a)) };
}
