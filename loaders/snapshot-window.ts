// The `window@cadence` syntax of scheduled snapshots and alerts, and the windows it names.
// Pure, and in loaders/ so that the configuration (SNAPSHOT_SCHEDULE) and the schema (alerts)
// both parse it without loading anything that runs queries.
import { addUnits, CALENDAR_UNITS, startOf, type CalendarUnit } from './calendar.js';

/** Calendar units in UTC: cadences fire at their starts, `last-<unit>` windows cover one whole unit. */
const UNITS = CALENDAR_UNITS;
type Unit = CalendarUnit;

export const CADENCES: Record<string, Unit> = { hourly: 'hour', daily: 'day', weekly: 'week', monthly: 'month', quarterly: 'quarter', yearly: 'year' };
const TRAILING_MS: Record<string, number> = { h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };
const MAX_TRAILING_DAYS = 3660;

export type SnapshotWindow = { kind: 'trailing'; ms: number } | { kind: 'last'; unit: Unit };

export interface WindowSpec {
  window: SnapshotWindow;
  cadence: Unit;
}

/** How `window@cadence` reads, for error messages. */
export const WINDOW_SYNTAX = `window is trailing-<N>h|d|w or last-${UNITS.join('|last-')} and cadence is ${Object.keys(CADENCES).join('|')}`;

export function parseWindow(text: string): SnapshotWindow {
  const trailing = /^trailing-(\d{1,6})([hdw])$/.exec(text);
  if (trailing) {
    const ms = Number(trailing[1]) * TRAILING_MS[trailing[2]!]!;
    if (ms === 0 || ms > MAX_TRAILING_DAYS * 86_400_000) throw new Error(`window "${text}" must span 1 hour to ${MAX_TRAILING_DAYS} days`);
    return { kind: 'trailing', ms };
  }
  const last = /^last-(\w+)$/.exec(text);
  if (last && (UNITS as readonly string[]).includes(last[1]!)) return { kind: 'last', unit: last[1] as Unit };
  throw new Error(`unknown window "${text}" (expected trailing-<N>h, trailing-<N>d, trailing-<N>w or last-${UNITS.join(', last-')})`);
}

export function parseCadence(text: string): Unit {
  const cadence = CADENCES[text];
  if (cadence === undefined) throw new Error(`unknown cadence "${text}" (expected ${Object.keys(CADENCES).join(', ')})`);
  return cadence;
}

/** `last-week@weekly`: a window and the cadence it is computed at; throws a message naming what is wrong. */
export function parseWindowSpec(text: string): WindowSpec {
  const at = text.lastIndexOf('@');
  if (at < 0) throw new Error('missing "@cadence"');
  const cadence = parseCadence(text.slice(at + 1));
  return { window: parseWindow(text.slice(0, at)), cadence };
}

/** The window a scheduled run at `t` covers; `t` is also its asOf, so a run is reproducible. */
export function windowAt(w: SnapshotWindow, t: Date): { from: Date; to: Date } {
  if (w.kind === 'trailing') return { from: new Date(t.getTime() - w.ms), to: t };
  const to = startOf(w.unit, t);
  return { from: addUnits(w.unit, to, -1), to };
}

/**
 * The window of the same length just before the one at `t`: the window of a run at its start.
 * For `last-<unit>` that is the whole unit before (a month of 29 days before one of 31).
 */
export function previousWindowAt(w: SnapshotWindow, t: Date): { from: Date; to: Date } {
  return windowAt(w, windowAt(w, t).from);
}
