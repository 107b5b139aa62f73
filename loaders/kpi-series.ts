import { BadInputError } from './errors.js';
import { MAX_PERIODS } from './args.js';
import { addUnits, GRAIN_UNIT, periodsIn, startOf } from './calendar.js';
import type { Grain } from './grain.js';
import type { Loaders } from './index.js';
import { prefetchWindows, runKpiSnapshot, type KpiSnapshotResult, type SnapshotArgs } from './snapshot.js';

/** The UTC periods of `grain` that start in [from, to), as in retentionRate. */
export function seriesPeriods(grain: Grain, from: Date, to: Date): { from: Date; to: Date }[] {
  const count = periodsIn(grain, from, to);
  if (count > MAX_PERIODS) {
    throw new BadInputError(`kpiSeries covers at most ${MAX_PERIODS} periods and this window holds ${count} ${grain} periods: choose a coarser grain or a shorter window`, 'grain');
  }
  const periods: { from: Date; to: Date }[] = [];
  const unit = GRAIN_UNIT[grain];
  let start = startOf(unit, from);
  if (start < from) start = addUnits(unit, start, 1);
  while (start < to) {
    const end = addUnits(unit, start, 1);
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
  const windows = seriesPeriods(a.grain, a.from, a.to).map((p) => ({ ...a, ...p }));
  // The parts that answer every period in one statement first; then one period at a time: a
  // snapshot already runs its KPIs concurrently, and hundreds of queries in flight for one
  // request would only queue up in the engine.
  await prefetchWindows(loaders, windows);
  const out: KpiSnapshotResult[] = [];
  for (const w of windows) out.push(await runKpiSnapshot(loaders, w, now));
  return out;
}
