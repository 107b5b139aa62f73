import { UnreachableCaseError } from '../server/errors.js';
import { Grain } from './grain.js';

/**
 * UTC calendar units in JavaScript, for what is decided outside SQL: the periods of a
 * `kpiSeries` and the cadences and windows of scheduled snapshots. (SQL has its own period
 * arithmetic per grain and zone, loaders/grain.ts.)
 */
export const CALENDAR_UNITS = ['hour', 'day', 'week', 'month', 'quarter', 'year'] as const;
export type CalendarUnit = (typeof CALENDAR_UNITS)[number];

export const GRAIN_UNIT: Record<Grain, CalendarUnit> = {
  [Grain.DAY]: 'day',
  [Grain.WEEK]: 'week',
  [Grain.MONTH]: 'month',
  [Grain.QUARTER]: 'quarter',
  [Grain.YEAR]: 'year',
};

/** The start of the UTC calendar unit containing `t` (weeks are ISO weeks, from Monday). */
export function startOf(unit: CalendarUnit, t: Date): Date {
  const y = t.getUTCFullYear();
  const m = t.getUTCMonth();
  switch (unit) {
    case 'hour':
      return new Date(Math.floor(t.getTime() / 3_600_000) * 3_600_000);
    case 'day':
      return new Date(Date.UTC(y, m, t.getUTCDate()));
    case 'week':
      // getUTCDay: Sunday is 0.
      return new Date(Date.UTC(y, m, t.getUTCDate() - ((t.getUTCDay() + 6) % 7)));
    case 'month':
      return new Date(Date.UTC(y, m, 1));
    case 'quarter':
      return new Date(Date.UTC(y, m - (m % 3), 1));
    case 'year':
      return new Date(Date.UTC(y, 0, 1));
    default:
      throw new UnreachableCaseError(unit);
  }
}

/** `t` moved by `n` whole units (t is a unit start). */
export function addUnits(unit: CalendarUnit, t: Date, n: number): Date {
  switch (unit) {
    case 'hour':
      return new Date(t.getTime() + n * 3_600_000);
    case 'day':
      return new Date(t.getTime() + n * 86_400_000);
    case 'week':
      return new Date(t.getTime() + n * 7 * 86_400_000);
    case 'month':
      return new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth() + n, 1));
    case 'quarter':
      return new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth() + 3 * n, 1));
    case 'year':
      return new Date(Date.UTC(t.getUTCFullYear() + n, 0, 1));
    default:
      throw new UnreachableCaseError(unit);
  }
}
