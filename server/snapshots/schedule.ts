// SNAPSHOT_SCHEDULE: its entries (name, options) around the window syntax of
// loaders/snapshot-window.ts. Pure, so the configuration can check it without loading anything
// that runs queries.
import type { CalendarUnit } from '../../loaders/calendar.js';
import { Grain } from '../../loaders/grain.js';
import { snapshotNameProblem } from '../../loaders/snapshot-name.js';
import { parseWindowSpec, WINDOW_SYNTAX, type SnapshotWindow } from '../../loaders/snapshot-window.js';

export interface ScheduledSnapshot {
  name: string;
  window: SnapshotWindow;
  cadence: CalendarUnit;
  grain: Grain;
  /** Undefined: the configured reporting currency. */
  currency: string | undefined;
}

const SCHEDULE_SYNTAX =
  `[name=]window@cadence[,grain=G][,currency=CCC] entries separated by ";", where ${WINDOW_SYNTAX} ` +
  '(e.g. "trailing-30d@daily;board=last-month@monthly,grain=WEEK")';

function parseEntry(text: string): ScheduledSnapshot {
  const [head, ...options] = text.split(',').map((s) => s.trim());
  const eq = head!.indexOf('=');
  const specText = eq < 0 ? head! : head!.slice(eq + 1);
  const { window, cadence } = parseWindowSpec(specText);
  const at = specText.lastIndexOf('@');
  const name = eq < 0 ? specText.slice(0, at) : head!.slice(0, eq);
  const problem = snapshotNameProblem(name);
  if (problem) throw new Error(`name ${problem}`);
  const entry: ScheduledSnapshot = { name, window, cadence, grain: Grain.MONTH, currency: undefined };
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
