import type { Executor, QueryContext } from '../server/storage/executor.js';
import { rateWithInterval } from './args.js';
import { kpiLoader } from './kpi-loader.js';
import type { CohortArgs } from './cohort.sql.js';
import { periodRetentionSql, pooledRetentionSql, retentionCohortsSql, type PeriodRetentionArgs } from './retention.sql.js';
import { fromChDateTime, ratio } from './sql.js';

/** Retained customers at one offset, as counts and rates with their 95% Wilson interval. */
interface RetentionCounts {
  offset: number;
  retained: number;
  rate: number | null;
  rateLow: number | null;
  rateHigh: number | null;
  retainedOrLater: number;
  rateOrLater: number | null;
}

export interface RetentionCellResult extends RetentionCounts {
  periodStart: Date;
  complete: boolean;
}

export interface RetentionCohortResult {
  cohortStart: Date;
  size: number;
  cells: RetentionCellResult[];
}

export interface RetentionAverageResult extends RetentionCounts {
  cohorts: number;
  size: number;
}

export interface RetentionCohortsResult {
  cohorts: RetentionCohortResult[];
  average: RetentionAverageResult[];
}

export interface PeriodRetentionResult {
  periodStart: Date;
  previousCustomers: number;
  retainedCustomers: number;
  rate: number | null;
  churnRate: number | null;
}

/** Period retention summed over the window's periods. */
export interface PooledRetention {
  previousCustomers: number;
  retainedCustomers: number;
  pooledRate: number | null;
  pooledChurnRate: number | null;
}

export interface PeriodRetentionSummary extends PooledRetention {
  periods: PeriodRetentionResult[];
}

type CohortRow = { c: number; starts: string[]; cells: [number, number, number][] };

export async function runRetentionCohorts(exec: Executor, ctx: QueryContext, a: CohortArgs): Promise<RetentionCohortsResult> {
  const rows = await exec.rows<CohortRow>(retentionCohortsSql(a), ctx);
  const asOf = a.asOf.getTime();
  const cohorts = rows.map((row) => {
    const retained = new Array<number>(a.periods + 1).fill(0);
    const last = new Array<number>(a.periods + 1).fill(0);
    for (const [k, r, l] of row.cells) {
      retained[k] = r;
      last[k] = l;
    }
    const size = retained[0]!;
    const cells: RetentionCellResult[] = [];
    let orLater = size;
    for (let k = 0; k <= a.periods; k++) {
      const start = fromChDateTime(row.starts[k]!);
      if (start.getTime() > asOf) break;
      const end = fromChDateTime(row.starts[k + 1]!);
      cells.push({
        offset: k,
        periodStart: start,
        retained: retained[k]!,
        ...rateWithInterval(retained[k]!, size),
        retainedOrLater: orLater,
        rateOrLater: ratio(orLater, size),
        complete: end.getTime() <= asOf,
      });
      // Customers whose last activity is offset k are not active at any later offset.
      orLater -= last[k]!;
    }
    return { cohortStart: fromChDateTime(row.starts[0]!), size, cells };
  });
  return { cohorts, average: averageCells(cohorts) };
}

/** Size-weighted average per offset over the cohorts that have that cell. */
function averageCells(cohorts: RetentionCohortResult[]): RetentionAverageResult[] {
  const acc: { cohorts: number; size: number; retained: number; orLater: number }[] = [];
  for (const c of cohorts) {
    for (const cell of c.cells) {
      const a = (acc[cell.offset] ??= { cohorts: 0, size: 0, retained: 0, orLater: 0 });
      a.cohorts++;
      a.size += c.size;
      a.retained += cell.retained;
      a.orLater += cell.retainedOrLater;
    }
  }
  return acc.map((a, offset) => ({
    offset,
    cohorts: a.cohorts,
    size: a.size,
    retained: a.retained,
    ...rateWithInterval(a.retained, a.size),
    retainedOrLater: a.orLater,
    rateOrLater: ratio(a.orLater, a.size),
  }));
}

export async function runPeriodRetention(exec: Executor, ctx: QueryContext, a: PeriodRetentionArgs): Promise<PeriodRetentionSummary> {
  const rows = await exec.rows<{ period_start: string; previous: number; retained: number }>(periodRetentionSql(a), ctx);
  let previous = 0;
  let retained = 0;
  const periods = rows.map((r) => {
    previous += r.previous;
    retained += r.retained;
    const rate = ratio(r.retained, r.previous);
    return {
      periodStart: fromChDateTime(r.period_start),
      previousCustomers: r.previous,
      retainedCustomers: r.retained,
      rate,
      churnRate: rate === null ? null : 1 - rate,
    };
  });
  return { periods, ...pooled(previous, retained) };
}

function pooled(previous: number, retained: number): PooledRetention {
  const pooledRate = ratio(retained, previous);
  return { previousCustomers: previous, retainedCustomers: retained, pooledRate, pooledChurnRate: pooledRate === null ? null : 1 - pooledRate };
}

/** The pooled figures alone, without a row per period: cheaper when no one asks for the periods. */
export async function runPooledRetention(exec: Executor, ctx: QueryContext, a: PeriodRetentionArgs): Promise<PooledRetention> {
  const [row] = await exec.rows<{ previous: number; retained: number }>(pooledRetentionSql(a), ctx);
  return pooled(row!.previous, row!.retained);
}

export function retentionLoaders(exec: Executor, ctx: QueryContext) {
  return {
    retentionCohorts: kpiLoader((a: CohortArgs) => runRetentionCohorts(exec, ctx, a)),
    periodRetention: kpiLoader((a: PeriodRetentionArgs) => runPeriodRetention(exec, ctx, a)),
    pooledRetention: kpiLoader((a: PeriodRetentionArgs) => runPooledRetention(exec, ctx, a)),
  };
}
