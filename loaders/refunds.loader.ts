import type { Executor, QueryContext } from '../server/storage/executor.js';
import { kpiLoader } from './kpi-loader.js';
import { refundSummarySql, type RefundWindow } from './refunds.sql.js';

export interface RefundSummary {
  /** Refunds in the window and currency that belong to orders not cancelled. */
  refundAmount: number;
  /** Purchases in the window, every currency, cancelled as of asOf. */
  cancelledOrders: number;
}

export async function runRefundSummary(exec: Executor, ctx: QueryContext, a: RefundWindow): Promise<RefundSummary> {
  const [row] = await exec.rows<{ refund_amount: string; cancelled_orders: number }>(refundSummarySql(a), ctx);
  // The exact Decimal sum, converted once at the end.
  return { refundAmount: Number(row!.refund_amount), cancelledOrders: row!.cancelled_orders };
}

export function refundLoaders(exec: Executor, ctx: QueryContext) {
  return { refundSummary: kpiLoader((a: RefundWindow) => runRefundSummary(exec, ctx, a)) };
}
