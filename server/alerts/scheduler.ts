import type { Logger } from 'pino';
import {
  alertEventId,
  alertSpec,
  AlertState,
  conditionText,
  listAlerts,
  recordAlertEvent,
  testCondition,
  type Alert,
  type MetricValue,
} from '../../loaders/alerts.js';
import { addUnits, startOf } from '../../loaders/calendar.js';
import { createLoaders, type Loaders } from '../../loaders/index.js';
import { resolveCurrency } from '../../loaders/reporting-currency.js';
import { previousWindowAt, windowAt } from '../../loaders/snapshot-window.js';
import { snapshotMetric, type SnapshotArgs } from '../../loaders/snapshot.js';
import type { Notifier } from '../notifications/events.js';
import type { Executor } from '../storage/executor.js';
import type { Clock } from '../snapshots/scheduler.js';

export interface AlertSchedulerDeps {
  exec: Executor;
  log: Logger;
  clock: Clock;
  notifier: Notifier;
  /** Unset: USD, as for queries. */
  reportingCurrency: string | undefined;
  grossMargin: number;
  /** Throws when this instance must not write now (a standby, a read replica); that run is skipped. */
  mayWrite?: (requestId: string) => void;
  /** Alerts tested (and their transitions stored) at once; their values are all asked up front. */
  concurrency?: number;
}

export interface AlertRunResult {
  evaluated: number;
  transitions: number;
  /** Distinct windows read (current and previous, with grain, filter and currency): each KPI query of one runs once, whatever the alerts on it. */
  windows: number;
  failed: number;
}

export interface AlertScheduler {
  /** Resolves once the run in progress, if any, has ended (tests wait on it instead of polling). */
  settled(): Promise<void>;
  /** Cancels the next run and waits for the one in progress. */
  stop(): Promise<void>;
}

const DEFAULT_CONCURRENCY = 2;
/** Every cadence (hourly … yearly) starts at a UTC hour, so one hourly wake-up sees every boundary. */
const WAKE_UNIT = 'hour';

interface Due {
  alert: Alert;
  /** The boundary it is evaluated at: its window's end for `last-…`, and the asOf of both windows. */
  at: Date;
}

/** The alerts with a boundary of their cadence in (since, now]: each is evaluated once, at its latest. */
function dueAlerts(alerts: Alert[], since: Date, now: Date): Due[] {
  return alerts.flatMap((alert) => {
    const at = startOf(alertSpec(alert).cadence, now);
    return at.getTime() > since.getTime() ? [{ alert, at }] : [];
  });
}

/** Runs `fn` over `items` with at most `limit` at a time. */
async function pool<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/**
 * Evaluates the alerts due in (since, now]. Each reads its metric through the kpiSnapshot
 * assembly (loaders/snapshot.ts), so it sees what kpiSnapshot answers; alerts that share a
 * window, grain, filter and currency share its queries (and the previous window's). A transition
 * is published and then stored; one a failure in between left published only is stored first.
 */
export async function evaluateAlerts(deps: AlertSchedulerDeps, since: Date, now: Date): Promise<AlertRunResult> {
  const { exec, log } = deps;
  const ctx = { requestId: `alerts-${now.toISOString()}` };
  // Each with its state, the target of its latest stored transition.
  const due = dueAlerts(await storePublished(deps, await listAlerts(exec, ctx), ctx), since, now);
  const result: AlertRunResult = { evaluated: 0, transitions: 0, windows: 0, failed: 0 };
  if (due.length === 0) return result;

  const loaders: Loaders = createLoaders({ exec, requestId: ctx.requestId });
  // One set of loaders for the run: alerts reading the same window share each KPI query (the
  // loaders cache by arguments), and only the queries behind the metrics asked for run.
  const windows = new Set<string>();
  const valueOf = (a: SnapshotArgs, alert: Alert): Promise<MetricValue> => {
    windows.add(JSON.stringify(a));
    return snapshotMetric(loaders, a, alert.metric);
  };

  // Currencies first, so that every alert's two values are then asked in one tick: the loaders of
  // window KPIs (windowsLoader) answer all the windows of one filter and asOf in one statement.
  const currencies = new Map<string | null, string | Error>();
  for (const asked of new Set(due.map((d) => d.alert.currency))) {
    currencies.set(asked, await resolveCurrency(asked, { exec, config: { reportingCurrency: deps.reportingCurrency } }).catch((e: unknown) => (e instanceof Error ? e : new Error(String(e)))));
  }
  const asked = due.map((d) => {
    const values = async () => {
      const { window } = alertSpec(d.alert);
      const currency = currencies.get(d.alert.currency)!;
      if (currency instanceof Error) throw currency;
      const base = { asOf: d.at, grain: d.alert.grain, filter: d.alert.filter, currency, margin: deps.grossMargin };
      const current = { ...base, ...windowAt(window, d.at) };
      // The previous window is read as of the same instant: late events and refunds count in both.
      const [value, previous] = await Promise.all([valueOf(current, d.alert), valueOf({ ...base, ...previousWindowAt(window, d.at) }, d.alert)]);
      return { current, value, previous };
    };
    // A failure is this alert's, reported when its turn comes (handled now, awaited then).
    const asking = values();
    asking.catch(() => undefined);
    return asking;
  });

  await pool([...due.keys()], deps.concurrency ?? DEFAULT_CONCURRENCY, async (i) => {
    const d = due[i]!;
    try {
      const v = await asked[i]!;
      result.evaluated++;
      if (await evaluateOne(deps, d, v.current, d.alert.state, v.value, v.previous)) result.transitions++;
    } catch (err) {
      // The next boundary tries again; one alert that fails must not stop the others.
      log.error({ err, alert: d.alert.id }, 'alert evaluation failed');
      result.failed++;
    }
  });
  result.windows = windows.size;
  return result;
}

/** What `alert.firing` and `alert.resolved` carry (docs/alerts.md, "Payload"); its transition is stored from it. */
interface TransitionPayload {
  eventId: string;
  alertId: string;
  name: string;
  state: AlertState;
  previousState: AlertState;
  metric: Alert['metric'];
  condition: string;
  window: string;
  from: string;
  to: string;
  evaluatedAt: string;
  value: number | null;
  previousValue: number | null;
  interval: { low: number; high: number } | null;
  grain: Alert['grain'];
  filter: Alert['filter'];
  currency: string;
  webhookIds: string[];
}

const TRANSITION_EVENTS = ['alert.firing', 'alert.resolved'] as const;

function storeTransition(exec: Executor, p: TransitionPayload): Promise<void> {
  return recordAlertEvent(exec, { requestId: `alert-${p.eventId}` }, {
    id: p.eventId,
    alertId: p.alertId,
    at: new Date(p.evaluatedAt),
    windowFrom: new Date(p.from),
    windowTo: new Date(p.to),
    metric: p.metric,
    condition: p.condition,
    value: p.value,
    previousValue: p.previousValue,
    intervalLow: p.interval?.low ?? null,
    intervalHigh: p.interval?.high ?? null,
    fromState: p.previousState,
    toState: p.state,
    webhookIds: p.webhookIds,
  });
}

/**
 * A transition is published before it is stored, so a crash in between leaves receivers told of
 * a state the store never reached. Each alert's next transition has a known eventId (it follows
 * the stored state); one that went out is stored now from what was published, and the alert goes
 * on from that state: a condition that no longer holds then resolves it, where the receiver
 * would otherwise hold a `firing` that nothing follows.
 */
async function storePublished(deps: AlertSchedulerDeps, alerts: Alert[], ctx: { requestId: string }): Promise<Alert[]> {
  const next = new Map(alerts.map((a) => [alertEventId(a.id, a.stateSince), a]));
  const published = await deps.notifier.published(TRANSITION_EVENTS, [...next.keys()], ctx);
  if (published.size === 0) return alerts;
  const recovered = new Map<string, Alert>();
  for (const [eventId, data] of published) {
    const p = data as unknown as TransitionPayload;
    const alert = next.get(eventId)!;
    // Published from the state now stored, so it is that state's successor (never the same state).
    if (p.previousState !== alert.state) continue;
    await storeTransition(deps.exec, p);
    deps.log.warn({ alert: alert.id, state: p.state, at: p.evaluatedAt }, 'alert transition published before a crash stored now');
    recovered.set(alert.id, { ...alert, state: p.state, stateSince: new Date(p.evaluatedAt) });
  }
  return alerts.map((a) => recovered.get(a.id) ?? a);
}

/** Tests one alert; on a change of state publishes it and stores it. True when the state changed. */
async function evaluateOne(deps: AlertSchedulerDeps, { alert, at }: Due, window: SnapshotArgs, state: AlertState, current: MetricValue, previous: MetricValue): Promise<boolean> {
  const outcome = testCondition(alert.condition, current, previous);
  // Values that cannot say (a rate without denominator) leave the state as it is.
  if (outcome.holds === null) return false;
  const next = outcome.holds ? AlertState.FIRING : AlertState.OK;
  if (next === state) return false;
  const payload: TransitionPayload = {
    eventId: alertEventId(alert.id, alert.stateSince),
    alertId: alert.id,
    name: alert.name,
    state: next,
    previousState: state,
    metric: alert.metric,
    condition: conditionText(alert.condition),
    window: alert.window,
    from: window.from.toISOString(),
    to: window.to.toISOString(),
    evaluatedAt: at.toISOString(),
    value: outcome.value,
    previousValue: outcome.previousValue,
    interval: outcome.interval,
    grain: alert.grain,
    filter: alert.filter,
    currency: window.currency,
    webhookIds: alert.webhookIds,
  };
  await deps.notifier.publish(next === AlertState.FIRING ? 'alert.firing' : 'alert.resolved', { ...payload }, { requestId: `alert-${payload.eventId}` });
  await storeTransition(deps.exec, payload);
  deps.log.info({ alert: alert.id, state: next, value: outcome.value, at }, 'alert state changed');
  return true;
}

/**
 * Wakes at every UTC hour and evaluates each alert whose cadence has a boundary since the last
 * run, at that boundary. Like scheduled snapshots, boundaries passed while the service was down
 * are not evaluated afterwards, and a run that finds several passed (the process slept)
 * evaluates each alert once, at its latest.
 */
export function startAlertScheduler(deps: AlertSchedulerDeps): AlertScheduler {
  const { clock, log } = deps;
  let since = clock.now();
  let cancel: (() => void) | undefined;
  let running: Promise<void> = Promise.resolve();
  let stopped = false;

  async function evaluate(now: Date): Promise<void> {
    try {
      deps.mayWrite?.(`alerts-${now.toISOString()}`);
    } catch (reason) {
      log.info({ reason: reason instanceof Error ? reason.message : String(reason) }, 'alert evaluation left to the writer');
      return;
    }
    try {
      const r = await evaluateAlerts(deps, since, now);
      if (r.evaluated + r.failed > 0) log.info({ ...r, at: now }, 'alerts evaluated');
    } catch (err) {
      // Reading the alerts failed; the next boundary tries again.
      log.error({ err }, 'alert evaluation failed');
    }
  }

  async function run(): Promise<void> {
    const now = clock.now();
    await evaluate(now);
    since = now;
    arm();
  }

  function arm(): void {
    if (stopped) return;
    const now = clock.now();
    const delay = addUnits(WAKE_UNIT, startOf(WAKE_UNIT, now), 1).getTime() - now.getTime();
    cancel = clock.setTimer(delay, () => {
      running = run();
    });
  }

  arm();
  return {
    settled: () => running,
    async stop() {
      stopped = true;
      cancel?.();
      await running;
    },
  };
}
