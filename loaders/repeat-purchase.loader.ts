import type { Executor, QueryContext } from '../server/executor.js';
import { rateWithInterval } from './args.js';
import { kpiLoader } from './kpi-loader.js';
import { repeatPurchaseSql, type WindowArgs } from './repeat-purchase.sql.js';
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

export async function runRepeatPurchase(exec: Executor, ctx: QueryContext, a: WindowArgs): Promise<RepeatPurchaseResult> {
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
  return { repeatPurchase: kpiLoader((a: WindowArgs) => runRepeatPurchase(exec, ctx, a)) };
}
