import { UnreachableCaseError } from './errors.js';
import { Grain } from './grain.js';

/**
 * UTC calendar units in JavaScript, for what is decided outside SQL: the periods of a
 * `kpiSeries`, how many periods a window holds (before any SQL runs), and the cadences and
 * windows of scheduled snapshots. (SQL has its own period arithmetic per grain and zone,
 * loaders/grain.ts; it stays the answer for the KPIs themselves.)
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
  return ordinal(grain, t) + (startOf(GRAIN_UNIT[grain], t).getTime() < t.getTime() ? 1 : 0);
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

const dayFormats = new Map<string, Intl.DateTimeFormat>();
const WEEKDAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];

/** The local calendar day of `t` in zone `tz`: year, month 1..12, day, ISO weekday 1 (Monday)..7. */
function localDay(t: Date, tz: string): { y: number; m: number; d: number; weekday: number } {
  let format = dayFormats.get(tz);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', { timeZone: tz, year: 'numeric', month: 'numeric', day: 'numeric', weekday: 'short' });
    dayFormats.set(tz, format);
  }
  const parts = Object.fromEntries(format.formatToParts(t).map((p) => [p.type, p.value]));
  return { y: Number(parts.year), m: Number(parts.month), d: Number(parts.day), weekday: WEEKDAYS.indexOf(parts.weekday!) + 1 };
}

/**
 * Whether `t` is where a period of `grain` begins in zone `tz`, as SQL's periodStart answers it:
 * the first instant of a local day (local midnight, or the first instant after it where a zone
 * skips midnight) that is the first day of its period.
 */
export function isPeriodStart(grain: Grain, t: Date, tz: string): boolean {
  const day = localDay(t, tz);
  const before = localDay(new Date(t.getTime() - 1), tz);
  if (day.y === before.y && day.m === before.m && day.d === before.d) return false;
  switch (grain) {
    case Grain.DAY:
      return true;
    case Grain.WEEK:
      return day.weekday === 1;
    case Grain.MONTH:
      return day.d === 1;
    case Grain.QUARTER:
      return day.d === 1 && (day.m - 1) % 3 === 0;
    case Grain.YEAR:
      return day.d === 1 && day.m === 1;
    default:
      throw new UnreachableCaseError(grain);
  }
}
