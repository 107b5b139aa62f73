import type { Executor, QueryContext } from '../server/storage/executor.js';
import { rateWithInterval } from './args.js';
import { periodsIn } from './calendar.js';
import { breakdownLoader, rowsByKey, wholeLoader } from './breakdown.js';
import { kpiLoader } from './kpi-loader.js';
import type { CohortArgs } from './cohort.sql.js';
import { cohortCustomersSql, periodRetentionSql, pooledRetentionSql, retentionCohortsSql, type CohortCellArgs, type PeriodRetentionArgs } from './retention.sql.js';
import { encodeCursor } from './cursor.js';
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

type CohortRow = { key: string | null; c: number; starts: string[]; cells: [number, number, number][] };

/** The cohorts per group key (one key, NULL, without a breakdown); a group without cohorts has no row. */
export async function runRetentionCohorts(exec: Executor, ctx: QueryContext, a: CohortArgs): Promise<Map<string | null, RetentionCohortsResult>> {
  const rows = await exec.rows<CohortRow>(retentionCohortsSql(a), ctx);
  return new Map([...rowsByKey(rows)].map(([key, group]) => [key, cohortsOf(group, a)]));
}

function cohortsOf(rows: CohortRow[], a: CohortArgs): RetentionCohortsResult {
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

type PeriodRow = { key: string | null; starts: string[]; counts: [number, number, number][] };

/** Period retention per group key (one key, NULL, without a breakdown; every period listed, with zeros where no one was active). */
export async function runPeriodRetention(exec: Executor, ctx: QueryContext, a: PeriodRetentionArgs): Promise<Map<string | null, PeriodRetentionSummary>> {
  const rows = await exec.rows<PeriodRow>(periodRetentionSql(a), ctx);
  return new Map(rows.map((row) => [row.key, periodsOf(row)]));
}

function periodsOf(row: PeriodRow): PeriodRetentionSummary {
  const counts = row.starts.map(() => ({ previous: 0, retained: 0 }));
  for (const [i, previous, retained] of row.counts) counts[i] = { previous, retained };
  let previous = 0;
  let retained = 0;
  const periods = counts.map((c, i) => {
    previous += c.previous;
    retained += c.retained;
    const rate = ratio(c.retained, c.previous);
    return {
      periodStart: fromChDateTime(row.starts[i]!),
      previousCustomers: c.previous,
      retainedCustomers: c.retained,
      rate,
      churnRate: rate === null ? null : 1 - rate,
    };
  });
  return { periods, ...pooled(previous, retained) };
}

export function pooled(previous: number, retained: number): PooledRetention {
  const pooledRate = ratio(retained, previous);
  return { previousCustomers: previous, retainedCustomers: retained, pooledRate, pooledChurnRate: pooledRate === null ? null : 1 - pooledRate };
}

/**
 * The pooled figures alone, per group key, without a row per period: cheaper when no one asks
 * for the periods. A group without activity has no entry.
 */
export async function runPooledRetention(exec: Executor, ctx: QueryContext, a: PeriodRetentionArgs): Promise<Map<string | null, PooledRetention>> {
  // No period starts in the window (a week's alert or snapshot under grain MONTH): nothing to
  // pool, and the query would still read every customer's state to find that out.
  if (periodsIn(a.grain, a.from, a.to, a.timezone) === 0) return new Map();
  const rows = await exec.rows<{ key: string | null; previous: number; retained: number }>(pooledRetentionSql(a), ctx);
  return new Map(rows.map((r) => [r.key, pooled(r.previous, r.retained)]));
}

export interface CohortCustomersPageArgs extends CohortCellArgs {
  first: number;
  /** The last id of the previous page. */
  after: string | null;
}

export interface CohortCustomersPage {
  customerIds: string[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

/** One page of a cell's customer ids; one more row than the page tells whether another follows. */
export async function runCohortCustomers(exec: Executor, ctx: QueryContext, a: CohortCustomersPageArgs): Promise<CohortCustomersPage> {
  const { first, ...cell } = a;
  const rows = await exec.rows<{ customer_id: string }>(cohortCustomersSql({ ...cell, limit: first + 1 }), ctx);
  const customerIds = rows.slice(0, first).map((r) => r.customer_id);
  const last = customerIds.at(-1);
  return { customerIds, pageInfo: { hasNextPage: rows.length > first, endCursor: last === undefined ? null : encodeCursor([last]) } };
}

/** Every customer id of a cell, ascending, in the batches the engine sends: what the CSV export streams. */
export function streamCohortCustomers(exec: Executor, ctx: QueryContext, a: CohortCellArgs): AsyncIterable<{ customer_id: string }[]> {
  return exec.stream<{ customer_id: string }>(cohortCustomersSql({ ...a, after: null, limit: null }), ctx);
}

export function retentionLoaders(exec: Executor, ctx: QueryContext) {
  const cohorts = (a: CohortArgs) => runRetentionCohorts(exec, ctx, a);
  const periods = (a: PeriodRetentionArgs) => runPeriodRetention(exec, ctx, a);
  const pooledGroups = kpiLoader((a: PeriodRetentionArgs) => runPooledRetention(exec, ctx, a));
  return {
    retentionCohorts: wholeLoader(cohorts, () => ({ cohorts: [], average: [] })),
    retentionCohortsBy: breakdownLoader(cohorts, (v) => v.cohorts.length > 0),
    // Without a breakdown the query always answers its one row (periodRetentionSql).
    periodRetention: wholeLoader(periods, () => {
      throw new Error('period retention answered no row');
    }),
    periodRetentionBy: breakdownLoader(periods, (v) => v.previousCustomers > 0),
    pooledRetention: wholeLoader(pooledGroups.load.bind(pooledGroups), () => pooled(0, 0)),
    pooledRetentionGroups: pooledGroups,
    cohortCustomers: (a: CohortCustomersPageArgs) => runCohortCustomers(exec, ctx, a),
  };
}
