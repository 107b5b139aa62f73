import type DataLoader from 'dataloader';
import type { Executor, QueryContext } from '../server/storage/executor.js';
import { clvSql, clvSummarySql, type ClvArgs, type ClvSummaryArgs } from './clv.sql.js';
import { breakdownLoader, wholeLoader } from './breakdown.js';
import { GROUPED_WINDOWS_DEPTH, windowsLoader } from './kpi-loader.js';
import { pooled, type PooledRetention } from './retention.loader.js';
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
  activeCustomerPeriods: number;
  purchaseFrequency: number | null;
  churnRate: number | null;
  expectedLifetimePeriods: number | null;
  clv: number | null;
}

export interface ClvResult extends ClvSummary {
  cohorts: ClvCohortResult[];
}

/** The pooled retention per group key (retention.loader.ts). */
type PooledRetentionLoader = DataLoader<PeriodRetentionArgs, Map<string | null, PooledRetention>, string>;

interface ClvRow {
  key: string | null;
  revenue: string;
  orders: number;
  customers: number;
  active_customer_periods: number;
  /** clvSql's; the summary alone (clvSummarySql) has none. */
  cohorts?: { c: number; size: number; starts: string[]; revenue: string[]; cumulative: string[] }[];
}

/** What a group without a row of its own has: nothing in the window, no cohort. */
const NO_ROW: Omit<ClvRow, 'key'> = { revenue: '0', orders: 0, customers: 0, active_customer_periods: 0, cohorts: [] };

/**
 * The summary and the cohort curves: one query. Churn is the pooled
 * period retention of the same window, grain, filter and breakdown (all currencies), from its
 * own loader. Per group key (one key, NULL, without a breakdown): the keys of either query.
 */
async function runClv(exec: Executor, ctx: QueryContext, a: ClvSummaryArgs, periods: number, pooledRetention: PooledRetentionLoader): Promise<Map<string | null, ClvResult>> {
  const [rows, retention] = await Promise.all([exec.rows<ClvRow>(clvSql(a, periods), ctx), pooledRetention.load(churnArgs(a))]);
  const byKey = new Map(rows.map((row) => [row.key, row]));
  const keys = new Set([...byKey.keys(), ...retention.keys()]);
  return new Map([...keys].map((key) => [key, clvOf(a, periods, byKey.get(key) ?? NO_ROW, retention.get(key) ?? pooled(0, 0))]));
}

/** The pooled retention that gives the churn of a CLV: same window, grain, filter and breakdown. */
function churnArgs(a: ClvSummaryArgs): PeriodRetentionArgs {
  return { grain: a.grain, from: a.from, to: a.to, asOf: a.asOf, timezone: a.timezone, filter: a.filter, by: a.by };
}

function clvOf(a: ClvSummaryArgs, periods: number | null, row: Omit<ClvRow, 'key'>, retention: PooledRetention): ClvResult {
  const revenue = Number(row.revenue);
  const averageOrderValue = ratio(revenue, row.orders);
  // Orders per active customer per period (definitions version 2): a longer window of the same behaviour gives the same frequency.
  const purchaseFrequency = ratio(row.orders, row.active_customer_periods);
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
    orders: row.orders,
    customers: row.customers,
    averageOrderValue,
    activeCustomerPeriods: row.active_customer_periods,
    purchaseFrequency,
    churnRate,
    expectedLifetimePeriods,
    clv,
    cohorts: (row.cohorts ?? []).map((cohort) => cohortCurve(cohort, periods ?? 0, a.asOf.getTime())),
  };
}

/** Cells up to asOf: a period starting later has no figures yet, one ending later is not complete. */
function cohortCurve(row: NonNullable<ClvRow['cohorts']>[number], periods: number, asOf: number): ClvCohortResult {
  const cells: ClvCellResult[] = [];
  for (let k = 0; k <= periods; k++) {
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
}

export function clvLoaders(exec: Executor, ctx: QueryContext, pooledRetention: PooledRetentionLoader) {
  const clv = ({ periods, ...a }: ClvArgs) => runClv(exec, ctx, a, periods, pooledRetention);
  return {
    // Windows asked in one tick (an alert run's, a series' periods) share one summary statement.
    clvSummary: windowsLoader<ClvSummaryArgs, ClvSummary>(async (a, windows) => {
      const [rows, churn] = await Promise.all([
        exec.rows<ClvRow & { w: number }>(clvSummarySql(a, windows), ctx),
        Promise.all(windows.map((w) => pooledRetention.load(churnArgs({ ...a, ...w })))),
      ]);
      const byWindow = new Map(rows.map((row) => [row.w, row]));
      return windows.map((w, i) => clvOf({ ...a, ...w }, null, byWindow.get(i + 1) ?? NO_ROW, churn[i]!.get(null) ?? pooled(0, 0)));
    }, GROUPED_WINDOWS_DEPTH),
    clv: wholeLoader(clv, ({ periods, ...a }) => clvOf(a, periods, NO_ROW, pooled(0, 0))),
    // A group counts someone when it has customers in the window, a cohort, or customers in its churn.
    clvBy: breakdownLoader(clv, (v) => v.customers > 0 || v.cohorts.length > 0 || v.churnRate !== null),
  };
}
