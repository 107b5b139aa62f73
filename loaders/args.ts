import { BadInputError } from './errors.js';
import { isPeriodStart, periodsIn } from './calendar.js';
import type { Breakdown } from './breakdown.sql.js';
import type { CustomerFilterArgs } from './customer-filter.js';
import { CALENDAR_END, CALENDAR_START, type Grain } from './grain.js';
import { ISO_4217 } from './event-codes.js';

export const MAX_PERIODS = 120;
/**
 * Periods one call may answer: a series' periods, or a cohort matrix's cohorts x offsets. 54
 * years of days; past this a window is almost surely a mistake, and its answer (tens of MB)
 * would hold the event loop while it is serialized.
 */
export const MAX_PERIODS_PER_CALL = 20_000;

export interface Window {
  from: Date;
  to: Date;
}

/** A validated window with its evaluation time and customer filter: what window KPIs take. */
export interface FilteredWindow extends Window {
  asOf: Date;
  filter?: CustomerFilterArgs | null;
  /** A breakdown: the builders add each customer's group `key` and group by it (breakdown.sql.ts). */
  by?: Breakdown | null;
}

const START_MS = Date.parse(CALENDAR_START);
const END_MS = Date.parse(CALENDAR_END);

/**
 * Every instant argument lies in the span of event timestamps, where each grain and zone is
 * exact (grain.ts): one at which something starts or is evaluated (`from`, `asOf`,
 * `calibrationEnd`) in [1970-01-01, 2100-01-01), a window's exclusive end (`to`) in
 * (1970-01-01, 2100-01-01]. Outside, a period function would leave the engine's calendar.
 */
export function checkInstant(name: string, at: Date, kind: 'start' | 'end' = 'start'): Date {
  const t = at.getTime();
  const inside = kind === 'start' ? t >= START_MS && t < END_MS : t > START_MS && t <= END_MS;
  if (!inside) {
    const span = kind === 'start' ? `[${CALENDAR_START}, ${CALENDAR_END})` : `(${CALENDAR_START}, ${CALENDAR_END}]`;
    throw new BadInputError(`"${name}" must be in ${span}, the span of event timestamps (got ${at.toISOString()})`, name);
  }
  return at;
}

export function checkWindow(from: Date, to: Date): Window {
  checkInstant('from', from);
  checkInstant('to', to, 'end');
  if (!(from.getTime() < to.getTime())) {
    throw new BadInputError(`"from" (${from.toISOString()}) must be earlier than "to" (${to.toISOString()})`, 'from');
  }
  return { from, to };
}

export function checkPeriods(periods: number): number {
  if (!Number.isInteger(periods) || periods < 0 || periods > MAX_PERIODS) {
    throw new BadInputError(`"periods" must be an integer from 0 to ${MAX_PERIODS} (got ${periods})`, 'periods');
  }
  return periods;
}

/**
 * Refuses a window holding more periods than one call answers (spec section 2), before any
 * SQL: `offsets` is 1 for a series and the offsets per cohort for a cohort matrix.
 */
/** A cell's offset from its cohort: one retentionCohorts can answer (0..MAX_PERIODS). */
export function checkOffset(offset: number): number {
  if (!Number.isInteger(offset) || offset < 0 || offset > MAX_PERIODS) {
    throw new BadInputError(`"offset" must be an integer from 0 to ${MAX_PERIODS} (got ${offset})`, 'offset');
  }
  return offset;
}

/** A cohort is named by the start of its period, as retentionCohorts answers `cohortStart`. */
export function checkCohortStart(cohortStart: Date, grain: Grain, timezone: string): Date {
  checkInstant('cohortStart', cohortStart);
  if (!isPeriodStart(grain, cohortStart, timezone)) {
    throw new BadInputError(
      `"cohortStart" must be the start of a ${grain} period in ${timezone}, as retentionCohorts answers it (got ${cohortStart.toISOString()})`,
      'cohortStart',
    );
  }
  return cohortStart;
}

/** A page size `first` from 1 to `max`. */
export function checkFirst(first: number, max: number): number {
  if (!Number.isInteger(first) || first < 1 || first > max) throw new BadInputError(`"first" must be an integer from 1 to ${max} (got ${first})`, 'first');
  return first;
}

export function checkPeriodCount(a: { grain: Grain; from: Date; to: Date; timezone?: string }, offsets = 1): void {
  const periods = periodsIn(a.grain, a.from, a.to, a.timezone);
  if (periods * offsets <= MAX_PERIODS_PER_CALL) return;
  const window = `The window from ${a.from.toISOString()} to ${a.to.toISOString()} holds ${periods} ${a.grain} periods`;
  if (offsets === 1) {
    throw new BadInputError(`${window}; one call answers at most ${MAX_PERIODS_PER_CALL}: choose a coarser "grain" or a shorter window`, 'grain');
  }
  throw new BadInputError(
    `${window}, which with ${offsets} offsets each makes ${periods * offsets} cells; one call answers at most ${MAX_PERIODS_PER_CALL}: ` +
      'choose a coarser "grain", a shorter window or fewer "periods"',
    'periods',
  );
}

/**
 * Zone names by their lower-case form: ECMA-402's canonical ones (Intl) and UTC, and, once the
 * service started (server/service.ts, knownZones), every name the engine itself loads
 * (system.time_zones: the IANA zones and their links, such as US/Eastern and Asia/Kolkata).
 */
const zoneNames = new Map<string, string>([...Intl.supportedValuesOf('timeZone'), 'UTC'].map((name) => [name.toLowerCase(), name]));

/** Adds the engine's zone names (system.time_zones) to those checkTimezone accepts. */
export function knownZones(names: readonly string[]): void {
  for (const name of names) zoneNames.set(name.toLowerCase(), name);
}

/**
 * IANA zone names and links only; checked before any SQL is built. A name is matched without
 * regard to case and answered as the zone list writes it: the engine loads a zone only by its
 * exact name, so `utc` and `asia/kathmandu` failed there. Names that are no IANA zone are
 * refused, though Intl takes some of them: `BST` would be read as Asia/Dhaka and `MIT` as
 * Pacific/Apia (old ICU short ids), and the `SystemV/…` zones the engine does not know.
 */
export function checkTimezone(tz: string | null | undefined): string {
  if (tz === undefined || tz === null) return 'UTC';
  const name = zoneNames.get(tz.toLowerCase());
  if (name === undefined) throw new BadInputError(`"timezone" must be an IANA zone name such as "Europe/Berlin" or "UTC" (got ${JSON.stringify(tz)})`, 'timezone');
  return name;
}

export function checkCurrency(currency: string): string {
  if (!ISO_4217.has(currency)) throw new BadInputError(`"currency" must be an ISO 4217 code of 3 upper-case letters (got ${JSON.stringify(currency)})`, 'currency');
  return currency;
}

/** followUpImpact's `windowDays`: at least a day (an empty window converts no one), at most ten years, as attribution windows. */
export function checkWindowDays(days: number): number {
  if (!Number.isInteger(days) || days < 1 || days > 3650) {
    throw new BadInputError(`"windowDays" must be an integer from 1 to 3650 (got ${days})`, 'windowDays');
  }
  return days;
}

export function checkAttributionWindow(days: number): number {
  if (!Number.isInteger(days) || days < 0 || days > 3650) {
    throw new BadInputError(`"attributionWindowDays" must be an integer from 0 to 3650 (got ${days})`, 'attributionWindowDays');
  }
  return days;
}

/** A rate with its 95% Wilson score interval; all null when n is 0. */
export function rateWithInterval(successes: number, n: number): { rate: number | null; rateLow: number | null; rateHigh: number | null } {
  const ci = wilson(successes, n);
  return { rate: n === 0 ? null : successes / n, rateLow: ci.low, rateHigh: ci.high };
}

/** 95% Wilson score interval: well-behaved for small cohorts and rates near 0 or 1. */
export function wilson(successes: number, n: number): { low: number | null; high: number | null } {
  if (n === 0) return { low: null, high: null };
  const z = 1.959963984540054;
  const p = successes / n;
  const z2n = (z * z) / n;
  const centre = p + z2n / 2;
  const spread = z * Math.sqrt((p * (1 - p)) / n + z2n / (4 * n));
  const denom = 1 + z2n;
  // At 0 and n successes the bound is exactly 0 (1); the floating-point difference leaves ~1e-17.
  return { low: successes === 0 ? 0 : Math.max(0, (centre - spread) / denom), high: successes === n ? 1 : Math.min(1, (centre + spread) / denom) };
}

/**
 * The difference p1 - p2 of two rates with its 95% interval by Newcombe's method 10, from each
 * rate's Wilson interval: (d - sqrt((p1 - l1)² + (u2 - p2)²), d + sqrt((u1 - p1)² + (p2 - l2)²)).
 * All null when either rate is (an empty group).
 */
export function rateDifference(successes1: number, n1: number, successes2: number, n2: number): { difference: number | null; low: number | null; high: number | null } {
  if (n1 === 0 || n2 === 0) return { difference: null, low: null, high: null };
  const p1 = successes1 / n1;
  const p2 = successes2 / n2;
  const a = wilson(successes1, n1) as { low: number; high: number };
  const b = wilson(successes2, n2) as { low: number; high: number };
  const d = p1 - p2;
  return { difference: d, low: d - Math.sqrt((p1 - a.low) ** 2 + (b.high - p2) ** 2), high: d + Math.sqrt((a.high - p1) ** 2 + (p2 - b.low) ** 2) };
}

export function checkMargin(margin: number): number {
  if (!Number.isFinite(margin) || margin < 0 || margin > 1) throw new BadInputError(`"margin" must be a fraction from 0 to 1 (got ${margin})`, 'margin');
  return margin;
}
