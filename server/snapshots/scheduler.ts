import type { Logger } from 'pino';
import { addUnits, startOf } from '../../loaders/calendar.js';
import { snapshotTakenPayload, takeSnapshot } from '../../loaders/kpi-snapshots.js';
import { resolveCurrency } from '../../loaders/reporting-currency.js';
import { Warnings } from '../../loaders/warnings.js';
import type { Notifier } from '../notifications/events.js';
import type { Executor } from '../storage/executor.js';
import { windowAt } from '../../loaders/snapshot-window.js';
import type { ScheduledSnapshot } from './schedule.js';

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
  /** Unset: USD, as for queries. */
  reportingCurrency: string | undefined;
  grossMargin: number;
  /** Throws when this instance must not write now (a standby, a read replica); that run is skipped. */
  mayWrite?: (requestId: string) => void;
  onResult?: (r: SnapshotJobResult) => void;
  /** Told of each stored snapshot (snapshot.taken). */
  notifier?: Notifier;
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
    const requestId = `snapshot-${entry.name}-${t.toISOString()}`;
    try {
      deps.mayWrite?.(requestId);
    } catch (reason) {
      log.info({ snapshot: entry.name, reason: reason instanceof Error ? reason.message : String(reason) }, 'scheduled snapshot left to the writer');
      return;
    }
    try {
      const currency = await resolveCurrency(entry.currency, { exec: deps.exec, config: { reportingCurrency: deps.reportingCurrency }, warnings });
      for (const w of warnings.list()) log.warn({ snapshot: entry.name, warning: w }, w.message);
      const args = { from, to, asOf: t, grain: entry.grain, currency, margin: deps.grossMargin };
      const stored = await takeSnapshot(deps.exec, { requestId }, entry.name, args, () => clock.now());
      log.info({ snapshot: entry.name, id: stored.id, from, to }, 'scheduled snapshot stored');
      deps.onResult?.({ name: entry.name, ok: true, durationMs: performance.now() - started });
      await deps.notifier?.publish('snapshot.taken', snapshotTakenPayload(stored), { requestId }).catch((err: unknown) => log.error({ err, snapshot: stored.id }, 'snapshot.taken could not be queued'));
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
