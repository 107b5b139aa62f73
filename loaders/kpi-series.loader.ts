import { BadInputError, UnreachableCaseError } from '../server/errors.js';
import { MAX_PERIODS } from './args.js';
import { Grain } from './grain.js';
import type { Loaders } from './index.js';
import { runKpiSnapshot, type KpiSnapshotResult, type SnapshotArgs } from './snapshot.loader.js';

/** The UTC start of the period after the one starting at `start`. */
function nextStart(grain: Grain, start: Date): Date {
  const d = new Date(start);
  switch (grain) {
    case Grain.DAY:
      d.setUTCDate(d.getUTCDate() + 1);
      return d;
    case Grain.WEEK:
      d.setUTCDate(d.getUTCDate() + 7);
      return d;
    case Grain.MONTH:
      d.setUTCMonth(d.getUTCMonth() + 1);
      return d;
    case Grain.QUARTER:
      d.setUTCMonth(d.getUTCMonth() + 3);
      return d;
    case Grain.YEAR:
      d.setUTCFullYear(d.getUTCFullYear() + 1);
      return d;
    default:
      throw new UnreachableCaseError(grain);
  }
}

/** The UTC start of the period containing `t`. */
function periodStart(grain: Grain, t: Date): Date {
  const y = t.getUTCFullYear();
  const m = t.getUTCMonth();
  switch (grain) {
    case Grain.DAY:
      return new Date(Date.UTC(y, m, t.getUTCDate()));
    case Grain.WEEK:
      // getUTCDay: Sunday is 0; ISO weeks start on Monday.
      return new Date(Date.UTC(y, m, t.getUTCDate() - ((t.getUTCDay() + 6) % 7)));
    case Grain.MONTH:
      return new Date(Date.UTC(y, m, 1));
    case Grain.QUARTER:
      return new Date(Date.UTC(y, m - (m % 3), 1));
    case Grain.YEAR:
      return new Date(Date.UTC(y, 0, 1));
    default:
      throw new UnreachableCaseError(grain);
  }
}

/** The UTC periods of `grain` that start in [from, to), as in retentionRate. */
export function seriesPeriods(grain: Grain, from: Date, to: Date): { from: Date; to: Date }[] {
  const periods: { from: Date; to: Date }[] = [];
  let start = periodStart(grain, from);
  if (start < from) start = nextStart(grain, start);
  while (start < to) {
    if (periods.length === MAX_PERIODS) {
      throw new BadInputError(`kpiSeries covers at most ${MAX_PERIODS} periods: choose a coarser grain or a shorter window`, 'grain');
    }
    const end = nextStart(grain, start);
    periods.push({ from: start, to: end });
    start = end;
  }
  return periods;
}

/**
 * The snapshot of every period: each point is exactly `kpiSnapshot` over that one period,
 * so a board's trend and a report over the same month agree.
 */
export async function runKpiSeries(loaders: Omit<Loaders, 'kpiSnapshot'>, a: SnapshotArgs, now: () => Date): Promise<KpiSnapshotResult[]> {
  const out: KpiSnapshotResult[] = [];
  // One period at a time: a snapshot already runs its KPIs concurrently, and hundreds of
  // queries in flight for one request would only queue up in the engine.
  for (const p of seriesPeriods(a.grain, a.from, a.to)) out.push(await runKpiSnapshot(loaders, { ...a, ...p }, now));
  return out;
}
