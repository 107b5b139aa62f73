import { UnreachableCaseError } from './errors.js';
import { CALENDAR_END, CALENDAR_START, Grain } from './grain.js';

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
 * How many periods of `grain` start in [from, to) in zone `tz`, as SQL counts them
 * (grain.ts: the ordinal of the first period starting at or after `to`, less that of `from`).
 */
export function periodsIn(grain: Grain, from: Date, to: Date, timezone = 'UTC'): number {
  if (!(from.getTime() < to.getTime())) return 0;
  if (timezone === 'UTC') return ceilOrdinal(grain, to) - ceilOrdinal(grain, from);
  const ceil = (t: Date) => localOrdinal(grain, t, timezone) + (isPeriodStart(grain, t, timezone) ? 0 : 1);
  return ceil(to) - ceil(from);
}

/** Ordinal of the period of `grain` containing `t` in zone `tz`, numbered as grain.ts periodIndex numbers it. */
function localOrdinal(grain: Grain, t: Date, tz: string): number {
  const { y, m } = localDay(t, tz);
  const day = localDayNumber(t, tz);
  switch (grain) {
    case Grain.DAY:
      return day - skippedDays(tz).filter((s) => s < day).length;
    case Grain.WEEK:
      return Math.floor((day + 3) / 7);
    case Grain.MONTH:
      return y * 12 + m - 1;
    case Grain.QUARTER:
      return y * 4 + Math.floor((m - 1) / 3);
    case Grain.YEAR:
      return y;
    default:
      throw new UnreachableCaseError(grain);
  }
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

/** The local day number (days since 1970-01-01 on the local calendar) of `t` in zone `tz`. */
function localDayNumber(t: Date, tz: string): number {
  const { y, m, d } = localDay(t, tz);
  return Date.UTC(y, m - 1, d) / DAY_MS;
}

const WEEK_MS = 7 * DAY_MS;
const QUARTER_HOUR_MS = 900_000;
const skipped = new Map<string, readonly number[]>();

/**
 * The local days zone `tz` skipped within the service's span, ascending, as local day numbers:
 * dates on which no instant falls, such as 2011-12-30 in Pacific/Apia (Samoa moved from UTC-10
 * to UTC+14 at its midnight). Most zones have none. Found from the zone's own calendar (Intl):
 * local dates a week apart advance by 7 unless an offset change lies between, and only such weeks
 * are walked quarter-hour by quarter-hour for the dates no instant reaches. Kept per zone.
 */
export function skippedDays(tz: string): readonly number[] {
  let days = skipped.get(tz);
  if (days) return days;
  const found: number[] = [];
  const start = Date.parse(CALENDAR_START) - WEEK_MS;
  const end = Date.parse(CALENDAR_END) + WEEK_MS;
  let prev = localDayNumber(new Date(start), tz);
  for (let t = start + WEEK_MS; t <= end; t += WEEK_MS) {
    const day = localDayNumber(new Date(t), tz);
    if (day - prev > 7) {
      const seen = new Set<number>();
      for (let u = t - WEEK_MS; u <= t; u += QUARTER_HOUR_MS) seen.add(localDayNumber(new Date(u), tz));
      for (let d = prev + 1; d < day; d++) if (!seen.has(d)) found.push(d);
    }
    prev = day;
  }
  days = found;
  skipped.set(tz, days);
  return days;
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
