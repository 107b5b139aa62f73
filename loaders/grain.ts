import { UnreachableCaseError } from '../server/errors.js';

export enum Grain {
  DAY = 'DAY',
  WEEK = 'WEEK',
  MONTH = 'MONTH',
  QUARTER = 'QUARTER',
  YEAR = 'YEAR',
}

/**
 * A period is named by the local calendar Date its start falls on; `tz` is a bound
 * `{tz:String}` placeholder. Everything a grain needs is one of these closed fragments.
 */
export function periodDate(grain: Grain, instant: string, tz: string): string {
  switch (grain) {
    case Grain.DAY:
      return `toDate(${instant}, ${tz})`;
    case Grain.WEEK:
      return `toMonday(${instant}, ${tz})`;
    case Grain.MONTH:
      return `toStartOfMonth(${instant}, ${tz})`;
    case Grain.QUARTER:
      return `toStartOfQuarter(${instant}, ${tz})`;
    case Grain.YEAR:
      return `toStartOfYear(${instant}, ${tz})`;
    default:
      throw new UnreachableCaseError(grain);
  }
}

/** A period's ordinal, so that offsets are plain integer differences. */
export function periodIndex(grain: Grain, date: string): string {
  switch (grain) {
    case Grain.DAY:
      return `toInt32(toRelativeDayNum(${date}))`;
    case Grain.WEEK:
      // 1970-01-05 was the first Monday: day 4 → week 1.
      return `toInt32(intDiv(toRelativeDayNum(${date}) + 3, 7))`;
    case Grain.MONTH:
      return `toInt32(toYear(${date}) * 12 + toMonth(${date}) - 1)`;
    case Grain.QUARTER:
      return `toInt32(toYear(${date}) * 4 + toQuarter(${date}) - 1)`;
    case Grain.YEAR:
      return `toInt32(toYear(${date}))`;
    default:
      throw new UnreachableCaseError(grain);
  }
}

/** The local calendar Date a period index starts on (inverse of periodIndex). */
export function indexDate(grain: Grain, index: string): string {
  switch (grain) {
    case Grain.DAY:
      return `addDays(toDate(0), ${index})`;
    case Grain.WEEK:
      return `addDays(toDate(0), ${index} * 7 - 3)`;
    case Grain.MONTH:
      return `makeDate(intDiv(${index}, 12), ${index} % 12 + 1, 1)`;
    case Grain.QUARTER:
      return `makeDate(intDiv(${index}, 4), (${index} % 4) * 3 + 1, 1)`;
    case Grain.YEAR:
      return `makeDate(${index}, 1, 1)`;
    default:
      throw new UnreachableCaseError(grain);
  }
}

/** The instant (UTC text) at which a period starting on local `date` begins in `tz`. */
export function dateStart(date: string, tz: string): string {
  return `toTimeZone(toDateTime64(${date}, 3, ${tz}), 'UTC')`;
}
