import { UnreachableCaseError } from '../server/errors.js';
import { Grain } from './grain.js';

/**
 * UTC calendar arithmetic in TypeScript, for what must be known before any SQL runs: the
 * periods of kpiSeries and how many periods a window holds. The engine's own period functions
 * (loaders/grain.ts) stay the answer for the KPIs themselves.
 */

/** The UTC start of the period after the one starting at `start`. */
export function nextStart(grain: Grain, start: Date): Date {
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
export function periodStart(grain: Grain, t: Date): Date {
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

const DAY_MS = 86_400_000;

/** Ordinal of the UTC period containing `t`: consecutive periods have consecutive ordinals. */
function ordinal(grain: Grain, t: Date): number {
  switch (grain) {
    case Grain.DAY:
      return Math.floor(t.getTime() / DAY_MS);
    case Grain.WEEK:
      // 1970-01-05 was the first Monday: day 4 starts week 0.
      return Math.floor((Math.floor(t.getTime() / DAY_MS) - 4) / 7);
    case Grain.MONTH:
      return t.getUTCFullYear() * 12 + t.getUTCMonth();
    case Grain.QUARTER:
      return t.getUTCFullYear() * 4 + Math.floor(t.getUTCMonth() / 3);
    case Grain.YEAR:
      return t.getUTCFullYear();
    default:
      throw new UnreachableCaseError(grain);
  }
}

/** Ordinal of the first UTC period starting at or after `t`. */
function ceilOrdinal(grain: Grain, t: Date): number {
  return ordinal(grain, t) + (periodStart(grain, t).getTime() < t.getTime() ? 1 : 0);
}

/**
 * How many periods of `grain` start in [from, to): exact in UTC. In another zone the local
 * period starts are the UTC ones moved by the zone's offset, so at most one more starts in the
 * window (a day a zone skipped only makes one fewer): the count is then an upper bound.
 */
export function periodsIn(grain: Grain, from: Date, to: Date, timezone = 'UTC'): number {
  if (!(from.getTime() < to.getTime())) return 0;
  return ceilOrdinal(grain, to) - ceilOrdinal(grain, from) + (timezone === 'UTC' ? 0 : 1);
}
