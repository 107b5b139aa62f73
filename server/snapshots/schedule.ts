// SNAPSHOT_SCHEDULE: its syntax and the windows it names. Pure, so the configuration can
// check it without loading anything that runs queries.
import { addUnits, CALENDAR_UNITS, startOf, type CalendarUnit } from '../../loaders/calendar.js';
import { Grain } from '../../loaders/grain.js';
import { snapshotNameProblem } from '../../loaders/snapshot-name.js';

/** Calendar units in UTC: cadences fire at their starts, `last-<unit>` windows cover one whole unit. */
const UNITS = CALENDAR_UNITS;
type Unit = CalendarUnit;

const CADENCES: Record<string, Unit> = { hourly: 'hour', daily: 'day', weekly: 'week', monthly: 'month', quarterly: 'quarter', yearly: 'year' };
const TRAILING_MS: Record<string, number> = { h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };
const MAX_TRAILING_DAYS = 3660;

export type SnapshotWindow = { kind: 'trailing'; ms: number } | { kind: 'last'; unit: Unit };

export interface ScheduledSnapshot {
  name: string;
  window: SnapshotWindow;
  cadence: Unit;
  grain: Grain;
  /** Undefined: the configured reporting currency. */
  currency: string | undefined;
}

const SCHEDULE_SYNTAX =
  '[name=]window@cadence[,grain=G][,currency=CCC] entries separated by ";", where window is trailing-<N>h|d|w or ' +
  `last-${UNITS.join('|last-')} and cadence is ${Object.keys(CADENCES).join('|')} ` +
  '(e.g. "trailing-30d@daily;board=last-month@monthly,grain=WEEK")';


function parseWindow(text: string): SnapshotWindow {
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

function parseEntry(text: string): ScheduledSnapshot {
  const [head, ...options] = text.split(',').map((s) => s.trim());
  const at = head!.lastIndexOf('@');
  if (at < 0) throw new Error('missing "@cadence"');
  const cadenceText = head!.slice(at + 1);
  const cadence = CADENCES[cadenceText];
  if (cadence === undefined) throw new Error(`unknown cadence "${cadenceText}" (expected ${Object.keys(CADENCES).join(', ')})`);
  const target = head!.slice(0, at);
  const eq = target.indexOf('=');
  const windowText = eq < 0 ? target : target.slice(eq + 1);
  const name = eq < 0 ? windowText : target.slice(0, eq);
  const problem = snapshotNameProblem(name);
  if (problem) throw new Error(`name ${problem}`);
  const entry: ScheduledSnapshot = { name, window: parseWindow(windowText), cadence, grain: Grain.MONTH, currency: undefined };
  for (const option of options) {
    const [key, value = ''] = option.split('=', 2);
    if (key === 'grain' && (Object.values(Grain) as string[]).includes(value)) entry.grain = value as Grain;
    else if (key === 'grain') throw new Error(`grain "${value}" is not one of ${Object.keys(Grain).join(', ')}`);
    else if (key === 'currency' && /^[A-Z]{3}$/.test(value)) entry.currency = value;
    else if (key === 'currency') throw new Error(`currency "${value}" is not an ISO 4217 code`);
    else throw new Error(`unknown option "${option}" (expected grain=... or currency=...)`);
  }
  return entry;
}

/** Parses SNAPSHOT_SCHEDULE; each problem names its entry, and all of them are reported. */
export function parseSnapshotSchedule(spec: string): { entries: ScheduledSnapshot[]; problems: string[] } {
  const entries: ScheduledSnapshot[] = [];
  const problems: string[] = [];
  for (const [i, text] of spec.split(';').map((s) => s.trim()).entries()) {
    if (text === '') continue;
    try {
      const entry = parseEntry(text);
      if (entries.some((e) => e.name === entry.name)) throw new Error(`name "${entry.name}" is used twice`);
      entries.push(entry);
    } catch (e) {
      problems.push(`SNAPSHOT_SCHEDULE entry ${i + 1} (${JSON.stringify(text)}): ${(e as Error).message}`);
    }
  }
  if (problems.length > 0) problems.push(`SNAPSHOT_SCHEDULE syntax: ${SCHEDULE_SYNTAX}`);
  return { entries, problems };
}

/** The window a scheduled run at `t` covers; `t` is also its asOf, so a run is reproducible. */
export function windowAt(w: SnapshotWindow, t: Date): { from: Date; to: Date } {
  if (w.kind === 'trailing') return { from: new Date(t.getTime() - w.ms), to: t };
  const to = startOf(w.unit, t);
  return { from: addUnits(w.unit, to, -1), to };
}
