import type { Logger } from 'pino';
import { Grain } from '../../loaders/grain.js';
import { takeSnapshot } from '../../loaders/kpi-snapshots.loader.js';
import { resolveCurrency } from '../../loaders/reporting-currency.js';
import { Warnings } from '../../loaders/warnings.js';
import type { Executor } from '../executor.js';
import { UnreachableCaseError } from '../errors.js';

/** Calendar units in UTC: cadences fire at their starts, `last-<unit>` windows cover one whole unit. */
const UNITS = ['hour', 'day', 'week', 'month', 'quarter', 'year'] as const;
type Unit = (typeof UNITS)[number];

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

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;

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
  if (!NAME.test(name)) throw new Error(`name "${name}" must be 1..128 letters, digits, "_", ".", ":" or "-"`);
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

/** The start of the UTC calendar unit containing `t`. */
export function startOf(unit: Unit, t: Date): Date {
  const y = t.getUTCFullYear();
  const m = t.getUTCMonth();
  switch (unit) {
    case 'hour':
      return new Date(Math.floor(t.getTime() / 3_600_000) * 3_600_000);
    case 'day':
      return new Date(Date.UTC(y, m, t.getUTCDate()));
    case 'week':
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
export function addUnits(unit: Unit, t: Date, n: number): Date {
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

/** The window a scheduled run at `t` covers; `t` is also its asOf, so a run is reproducible. */
export function windowAt(w: SnapshotWindow, t: Date): { from: Date; to: Date } {
  if (w.kind === 'trailing') return { from: new Date(t.getTime() - w.ms), to: t };
  const to = startOf(w.unit, t);
  return { from: addUnits(w.unit, to, -1), to };
}

/** Time as the scheduler sees it; tests pass a fake one and move it by hand. */
export interface Clock {
  now(): Date;
  /** Calls `fn` after `ms`; returns a cancel function. */
  setTimer(ms: number, fn: () => void): () => void;
}

export const systemClock: Clock = {
  now: () => new Date(),
  setTimer(ms, fn) {
    const t = setTimeout(fn, ms);
    t.unref();
    return () => clearTimeout(t);
  },
};

/** setTimeout's largest delay; a monthly cadence waits longer, in several hops. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface SnapshotJobResult {
  name: string;
  ok: boolean;
  durationMs: number;
}

export interface SchedulerDeps {
  exec: Executor;
  log: Logger;
  clock: Clock;
  /** Unset: the store's most frequent currency, as for queries. */
  reportingCurrency: string | undefined;
  grossMargin: number;
  onResult?: (r: SnapshotJobResult) => void;
}

export interface SnapshotScheduler {
  /** Cancels the next run and waits for the one in progress. */
  stop(): Promise<void>;
}

/**
 * Takes each configured snapshot at every start of its cadence (UTC). A run that finds
 * several boundaries passed (the process slept) takes one snapshot, for the latest; a
 * boundary passed while the service was down is not taken afterwards.
 */
export function startSnapshotScheduler(entries: ScheduledSnapshot[], deps: SchedulerDeps): SnapshotScheduler {
  const { clock, log } = deps;
  const due = new Map(entries.map((e) => [e, addUnits(e.cadence, startOf(e.cadence, clock.now()), 1)]));
  let cancel: (() => void) | undefined;
  let running: Promise<void> = Promise.resolve();
  let stopped = false;

  async function take(entry: ScheduledSnapshot, t: Date): Promise<void> {
    const started = performance.now();
    const { from, to } = windowAt(entry.window, t);
    const warnings = new Warnings();
    try {
      const currency = await resolveCurrency(entry.currency, { exec: deps.exec, config: { reportingCurrency: deps.reportingCurrency }, warnings });
      for (const w of warnings.list()) log.warn({ snapshot: entry.name, warning: w }, w.message);
      const args = { from, to, asOf: t, grain: entry.grain, currency, margin: deps.grossMargin };
      const stored = await takeSnapshot(deps.exec, { requestId: `snapshot-${entry.name}-${t.toISOString()}` }, entry.name, args, () => clock.now());
      log.info({ snapshot: entry.name, id: stored.id, from, to }, 'scheduled snapshot stored');
      deps.onResult?.({ name: entry.name, ok: true, durationMs: performance.now() - started });
    } catch (err) {
      // The next boundary tries again; one failed run must not stop the schedule.
      log.error({ err, snapshot: entry.name }, 'scheduled snapshot failed');
      deps.onResult?.({ name: entry.name, ok: false, durationMs: performance.now() - started });
    }
  }

  async function run(): Promise<void> {
    const now = clock.now();
    for (const [entry, at] of due) {
      if (at.getTime() > now.getTime() || stopped) continue;
      const t = startOf(entry.cadence, now);
      await take(entry, t);
      due.set(entry, addUnits(entry.cadence, t, 1));
    }
    arm();
  }

  function arm(): void {
    if (stopped || due.size === 0) return;
    const next = Math.min(...[...due.values()].map((d) => d.getTime()));
    const delay = Math.min(Math.max(0, next - clock.now().getTime()), MAX_TIMER_MS);
    cancel = clock.setTimer(delay, () => {
      running = run();
    });
  }

  arm();
  return {
    async stop() {
      stopped = true;
      cancel?.();
      await running;
    },
  };
}
