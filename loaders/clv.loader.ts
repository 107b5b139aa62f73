import type DataLoader from 'dataloader';
import type { Executor, QueryContext } from '../server/executor.js';
import { clvCohortsSql, clvSummarySql, type ClvArgs } from './clv.sql.js';
import { kpiLoader } from './kpi-loader.js';
import type { PeriodRetentionSummary } from './retention.loader.js';
import type { PeriodRetentionArgs } from './retention.sql.js';
import { fromChDateTime, ratio } from './sql.js';

export interface ClvCellResult {
  offset: number;
  periodStart: Date;
  revenue: number;
  cumulativeRevenuePerCustomer: number | null;
  complete: boolean;
}

export interface ClvCohortResult {
  cohortStart: Date;
  size: number;
  cells: ClvCellResult[];
}

export interface ClvSummary {
  currency: string;
  margin: number;
  revenue: number;
  orders: number;
  customers: number;
  averageOrderValue: number | null;
  purchaseFrequency: number | null;
  churnRate: number | null;
  expectedLifetimePeriods: number | null;
  clv: number | null;
}

export interface ClvResult extends ClvSummary {
  cohorts: ClvCohortResult[];
}

type PeriodRetentionLoader = DataLoader<PeriodRetentionArgs, PeriodRetentionSummary, string>;

/** The window summary; churn is the pooled period retention of the same window, grain and filter (all currencies). */
export async function runClvSummary(
  exec: Executor,
  ctx: QueryContext,
  a: Omit<ClvArgs, 'periods'>,
  periodRetention: PeriodRetentionLoader,
): Promise<ClvSummary> {
  const [[row], retention] = await Promise.all([
    exec.rows<{ revenue: string; orders: number; customers: number; period_count: number }>(clvSummarySql(a), ctx),
    periodRetention.load({ grain: a.grain, from: a.from, to: a.to, asOf: a.asOf, timezone: a.timezone, filter: a.filter }),
  ]);
  const revenue = Number(row!.revenue);
  const averageOrderValue = ratio(revenue, row!.orders);
  const ordersPerCustomer = ratio(row!.orders, row!.customers);
  const purchaseFrequency = ordersPerCustomer === null ? null : ratio(ordersPerCustomer, row!.period_count);
  const churnRate = retention.pooledChurnRate;
  const expectedLifetimePeriods = churnRate === null ? null : ratio(1, churnRate);
  const clv =
    averageOrderValue === null || purchaseFrequency === null || expectedLifetimePeriods === null
      ? null
      : averageOrderValue * purchaseFrequency * a.margin * expectedLifetimePeriods;
  return {
    currency: a.currency,
    margin: a.margin,
    revenue,
    orders: row!.orders,
    customers: row!.customers,
    averageOrderValue,
    purchaseFrequency,
    churnRate,
    expectedLifetimePeriods,
    clv,
  };
}

type CohortRow = { c: number; size: number; starts: string[]; revenue: string[]; cumulative: string[] };

export async function runClvCohorts(exec: Executor, ctx: QueryContext, a: ClvArgs): Promise<ClvCohortResult[]> {
  const rows = await exec.rows<CohortRow>(clvCohortsSql(a), ctx);
  const asOf = a.asOf.getTime();
  return rows.map((row) => {
    const cells: ClvCellResult[] = [];
    for (let k = 0; k <= a.periods; k++) {
      const start = fromChDateTime(row.starts[k]!);
      if (start.getTime() > asOf) break;
      cells.push({
        offset: k,
        periodStart: start,
        revenue: Number(row.revenue[k]),
        cumulativeRevenuePerCustomer: ratio(Number(row.cumulative[k]), row.size),
        complete: fromChDateTime(row.starts[k + 1]!).getTime() <= asOf,
      });
    }
    return { cohortStart: fromChDateTime(row.starts[0]!), size: row.size, cells };
  });
}

export function clvLoaders(exec: Executor, ctx: QueryContext, periodRetention: PeriodRetentionLoader) {
  const summary = kpiLoader((a: Omit<ClvArgs, 'periods'>) => runClvSummary(exec, ctx, a, periodRetention));
  return {
    clvSummary: summary,
    clv: kpiLoader(async (a: ClvArgs): Promise<ClvResult> => {
      const { periods: _p, ...summaryArgs } = a;
      const [s, cohorts] = await Promise.all([summary.load(summaryArgs), runClvCohorts(exec, ctx, a)]);
      return { ...s, cohorts };
    }),
  };
}
