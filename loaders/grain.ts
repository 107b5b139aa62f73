import { UnreachableCaseError } from './errors.js';

export enum Grain {
  DAY = 'DAY',
  WEEK = 'WEEK',
  MONTH = 'MONTH',
  QUARTER = 'QUARTER',
  YEAR = 'YEAR',
}

/**
 * The span of instants the service answers for, like event timestamps (kpi-spec section 2):
 * every instant argument and every stored event lies in [CALENDAR_START, CALENDAR_END).
 */
export const CALENDAR_START = '1970-01-01T00:00:00Z';
export const CALENDAR_END = '2100-01-01T00:00:00Z';

/**
 * Period arithmetic on local calendar days as Date32 (1900..2299). ClickHouse's Date
 * (1970-01-01..2149-06-06) does not reach the periods around the span's ends: the ISO week of
 * 1970-01-01 starts on 1969-12-29, and in zones west of UTC the first instants fall on
 * 1969-12-31; Date clamps or wraps those (toMonday gave 1970-01-01, toDate in Los Angeles
 * 2149-06-06) and answers silently wrong. Local day numbers from Date32 are negative there.
 */
function localDay(instant: string, tz: string): string {
  return `toDate32(${instant}, ${tz})`;
}

/**
 * A time zone as the period arithmetic reads it: `tz`, its bound name (a `{tz:String}`
 * placeholder), and `skipped`, a bound `Array(Int32)` of the local days it skipped in DAY
 * periods (calendar.ts skippedDays; zone.ts makes both), or null when it skipped none, which is
 * every zone but a handful, and every grain but DAY: a skipped date starts no period (there is
 * no local midnight on it, kpi-spec section 2), so DAY periods are numbered over the dates that
 * exist, and the day after a skipped one follows the day before it.
 */
export interface Zone {
  tz: string;
  skipped: string | null;
}

/**
 * A period's ordinal: the period of `grain` in `zone` that contains `instant`, so that offsets
 * are plain integer differences. Month-aligned grains number periods from year 0 (MONTH:
 * year * 12 + month - 1, as the customer state's month numbers); DAY counts the zone's days
 * from 1970-01-01 (less the skipped ones before), WEEK ISO weeks from the one of 1970-01-05
 * (week 1; week 0 starts 1969-12-29). The day number of any instant of the span is at least -1
 * (UTC-12), so intDiv, which truncates toward zero, floors here.
 */
export function periodIndex(grain: Grain, instant: string, zone: Zone): string {
  const day = localDay(instant, zone.tz);
  switch (grain) {
    case Grain.DAY:
      return zone.skipped === null ? `toInt32(${day})` : `(toInt32(${day}) - toInt32(arrayCount(s -> s < toInt32(${day}), ${zone.skipped})))`;
    case Grain.WEEK:
      return `toInt32(intDiv(toInt32(${day}) + 3, 7))`;
    case Grain.MONTH:
      return `toInt32(toYear(${day}) * 12 + toMonth(${day}) - 1)`;
    case Grain.QUARTER:
      return `toInt32(toYear(${day}) * 4 + toQuarter(${day}) - 1)`;
    case Grain.YEAR:
      return `toInt32(toYear(${day}))`;
    default:
      throw new UnreachableCaseError(grain);
  }
}

/**
 * The local calendar day (Date32) a period index starts on: the inverse of periodIndex. A DAY
 * index i past the j-th skipped day s_j (ascending, from 1) is day i + j once i >= s_j - (j - 1).
 */
function indexDay(grain: Grain, index: string, zone: Zone): string {
  switch (grain) {
    case Grain.DAY:
      return zone.skipped === null
        ? `addDays(toDate32(0), ${index})`
        : `addDays(toDate32(0), ${index} + toInt32(arrayCount((s, j) -> s - j + 1 <= ${index}, ${zone.skipped}, arrayEnumerate(${zone.skipped}))))`;
    case Grain.WEEK:
      return `addDays(toDate32(0), ${index} * 7 - 3)`;
    case Grain.MONTH:
      return `makeDate32(intDiv(${index}, 12), ${index} % 12 + 1, 1)`;
    case Grain.QUARTER:
      return `makeDate32(intDiv(${index}, 4), (${index} % 4) * 3 + 1, 1)`;
    case Grain.YEAR:
      return `makeDate32(${index}, 1, 1)`;
    default:
      throw new UnreachableCaseError(grain);
  }
}

/** The instant (DateTime64 in UTC) at which period `index` of `grain` begins in `zone`: local midnight of its first day. */
export function periodStart(grain: Grain, index: string, zone: Zone): string {
  return `toTimeZone(toDateTime64(${indexDay(grain, index, zone)}, 3, ${zone.tz}), 'UTC')`;
}
