// KPI alerts (issue 19, docs/alerts.md): definitions, their checks, the condition each alert
// tests, and their storage. Evaluation on the clock lives with the jobs (server/alerts/).
import { randomUUID } from 'node:crypto';
import type { Executor, QueryContext } from '../server/storage/executor.js';
import { checkCurrency, checkFirst, checkPeriodCount, wilson } from './args.js';
import { ALERT_EVENTS_TABLE, alertEventsPageSql, alertsSql, alertStatesSql, ALERTS_TABLE } from './alerts.sql.js';
import { decodeTimeCursor, encodeTimeCursor, MAX_PAGE } from './cursor.js';
import { checkCustomerFilter, type CustomerFilterArgs } from './customer-filter.js';
import { BadInputError, UnreachableCaseError } from './errors.js';
import { Grain } from './grain.js';
import { parseWindowSpec, WINDOW_SYNTAX, windowAt, type WindowSpec } from './snapshot-window.js';
import { isProportion, PROPORTION_METRICS, SNAPSHOT_METRICS, UNFILTERED_FIELDS, type Proportion, type SnapshotMetric } from './snapshot.js';
import { fromChDateTime, toChDateTime } from './sql.js';

/** The GraphQL enum AlertMetric: the numeric kpiSnapshot fields, by their names (loaders/snapshot.ts derives them from its type). */
export const AlertMetric = Object.fromEntries(SNAPSHOT_METRICS.map((k) => [k, k])) as { [K in SnapshotMetric]: K };
export type AlertMetric = SnapshotMetric;

export enum AlertConditionKind {
  BELOW = 'BELOW',
  ABOVE = 'ABOVE',
  DROPS_BY = 'DROPS_BY',
  RISES_BY = 'RISES_BY',
  OUTSIDE_INTERVAL = 'OUTSIDE_INTERVAL',
}

export enum AlertState {
  OK = 'OK',
  FIRING = 'FIRING',
}

export interface AlertCondition {
  kind: AlertConditionKind;
  /** BELOW and ABOVE: the value the metric is compared with. */
  threshold: number | null;
  /** DROPS_BY and RISES_BY: the change against the previous window, in percent of it. */
  percent: number | null;
}

export interface AlertInput {
  name: string;
  metric: AlertMetric;
  /** `window@cadence` as in SNAPSHOT_SCHEDULE: `last-week@weekly`, `trailing-30d@daily`. */
  window: string;
  grain: Grain;
  filter: CustomerFilterArgs | null;
  /** Null: the reporting currency at each evaluation. */
  currency: string | null;
  condition: AlertCondition;
  webhookIds: string[];
}

export interface Alert extends AlertInput {
  id: string;
  createdAt: Date;
  updatedAt: Date;
  state: AlertState;
  /** When the alert entered its state; null for an alert that never left OK. */
  stateSince: Date | null;
}

/** An evaluation's window and schedule, parsed once. */
export function alertSpec(a: Pick<AlertInput, 'window'>): WindowSpec {
  return parseWindowSpec(a.window);
}

const MAX_NAME = 200;
const MAX_WEBHOOKS = 20;
const MAX_WEBHOOK_ID = 128;
/** Every alert is evaluated at its boundaries; the cap bounds that work (docs/alerts.md, "Cost"). */
export const MAX_ALERTS = 1000;

/** Every check of createAlert/updateAlert, before anything is stored; each error names its argument. */
export function checkAlert(a: AlertInput, now: Date): AlertInput {
  if (a.name.trim() === '' || [...a.name].length > MAX_NAME) {
    throw new BadInputError(`"name" must be 1 to ${MAX_NAME} characters, not blank (got ${JSON.stringify(a.name)})`, 'name');
  }
  if (!(SNAPSHOT_METRICS as string[]).includes(a.metric)) {
    throw new BadInputError(`"metric" must be a numeric kpiSnapshot field: ${SNAPSHOT_METRICS.join(', ')} (got ${JSON.stringify(a.metric)})`, 'metric');
  }
  let spec: WindowSpec;
  try {
    spec = alertSpec(a);
  } catch (e) {
    throw new BadInputError(`"window" ${JSON.stringify(a.window)}: ${(e as Error).message}; ${WINDOW_SYNTAX} (e.g. "last-week@weekly")`, 'window');
  }
  // Retention, NPS and CSAT run over the window's periods of `grain`, as in kpiSnapshot.
  checkPeriodCount({ grain: a.grain, ...windowAt(spec.window, now) });
  const filter = checkCustomerFilter(a.filter);
  if (filter && (UNFILTERED_FIELDS as readonly string[]).includes(a.metric)) {
    throw new BadInputError(`"filter" cannot apply to ${a.metric}: its KPI counts every customer; leave the filter out`, 'filter');
  }
  if (a.currency !== null) checkCurrency(a.currency);
  checkCondition(a.condition, a.metric);
  if (a.webhookIds.length > MAX_WEBHOOKS) throw new BadInputError(`"webhookIds" lists ${a.webhookIds.length} webhooks; at most ${MAX_WEBHOOKS}`, 'webhookIds');
  const bad = a.webhookIds.find((id) => id === '' || id.length > MAX_WEBHOOK_ID);
  if (bad !== undefined) throw new BadInputError(`"webhookIds" values must be webhook ids of 1 to ${MAX_WEBHOOK_ID} characters (got ${JSON.stringify(bad)})`, 'webhookIds');
  return { ...a, filter, webhookIds: [...new Set(a.webhookIds)] };
}

function checkCondition(c: AlertCondition, metric: AlertMetric): void {
  const needs = (field: 'threshold' | 'percent', why: string) => {
    const value = c[field];
    if (value === null || !Number.isFinite(value)) throw new BadInputError(`"condition.${field}" is required for ${c.kind}: ${why} (got ${value})`, `condition.${field}`);
  };
  const without = (field: 'threshold' | 'percent', forKinds: string) => {
    if (c[field] !== null) throw new BadInputError(`"condition.${field}" applies to ${forKinds} only, not to ${c.kind}; leave it out`, `condition.${field}`);
  };
  switch (c.kind) {
    case AlertConditionKind.BELOW:
    case AlertConditionKind.ABOVE:
      needs('threshold', 'the value the metric is compared with');
      without('percent', 'DROPS_BY and RISES_BY');
      return;
    case AlertConditionKind.DROPS_BY:
    case AlertConditionKind.RISES_BY:
      needs('percent', 'the change against the previous window, in percent');
      if (c.percent! <= 0) throw new BadInputError(`"condition.percent" must be greater than 0 for ${c.kind} (got ${c.percent})`, 'condition.percent');
      without('threshold', 'BELOW and ABOVE');
      return;
    case AlertConditionKind.OUTSIDE_INTERVAL:
      if (!isProportion(metric)) {
        throw new BadInputError(
          `"condition.kind" OUTSIDE_INTERVAL needs a rate with a Wilson interval (${PROPORTION_METRICS.join(', ')}); ${metric} has none`,
          'condition.kind',
        );
      }
      without('threshold', 'BELOW and ABOVE');
      without('percent', 'DROPS_BY and RISES_BY');
      return;
    default:
      throw new UnreachableCaseError(c.kind);
  }
}

/** `BELOW 0.3`, `DROPS_BY 10%`: the condition as the history and the payload show it. */
export function conditionText(c: AlertCondition): string {
  if (c.threshold !== null) return `${c.kind} ${c.threshold}`;
  if (c.percent !== null) return `${c.kind} ${c.percent}%`;
  return c.kind;
}

/** An alert's metric over one window, with its counts when it is a proportion (loaders/snapshot.ts snapshotMetric). */
export interface MetricValue {
  value: number | null;
  proportion: Proportion | null;
}

export interface ConditionOutcome {
  /** Null when the values cannot say (a rate without denominator, a change from 0): the state stays. */
  holds: boolean | null;
  value: number | null;
  previousValue: number | null;
  /** The current value's 95% Wilson interval, for metrics that have one. */
  interval: { low: number; high: number } | null;
}

/** Tests an alert's condition on the window's values and the previous window's. */
export function testCondition(c: AlertCondition, current: MetricValue, previous: MetricValue): ConditionOutcome {
  const value = current.value;
  const previousValue = previous.value;
  let interval: ConditionOutcome['interval'] = null;
  if (current.proportion) {
    const ci = wilson(current.proportion.successes, current.proportion.n);
    if (ci.low !== null && ci.high !== null) interval = { low: ci.low, high: ci.high };
  }
  // Relative change in percent of the previous value; none from 0 or without both values.
  const change = value === null || previousValue === null || previousValue === 0 ? null : ((value - previousValue) / Math.abs(previousValue)) * 100;
  let holds: boolean | null;
  switch (c.kind) {
    case AlertConditionKind.BELOW:
      holds = value === null ? null : value < c.threshold!;
      break;
    case AlertConditionKind.ABOVE:
      holds = value === null ? null : value > c.threshold!;
      break;
    case AlertConditionKind.DROPS_BY:
      holds = change === null ? null : -change >= c.percent!;
      break;
    case AlertConditionKind.RISES_BY:
      holds = change === null ? null : change >= c.percent!;
      break;
    case AlertConditionKind.OUTSIDE_INTERVAL:
      holds = interval === null || previousValue === null ? null : previousValue < interval.low || previousValue > interval.high;
      break;
    default:
      throw new UnreachableCaseError(c.kind);
  }
  return { holds, value, previousValue, interval };
}

interface AlertRow {
  id: string;
  name: string;
  metric: string;
  window: string;
  grain: Grain;
  filter: string;
  currency: string | null;
  conditionKind: AlertConditionKind;
  conditionValue: number | null;
  webhookIds: string[];
  createdAt: string;
  updatedAt: string;
}

/** The one stored value of a condition: the threshold or the percent, by kind. */
function conditionOf(kind: AlertConditionKind, value: number | null): AlertCondition {
  const byThreshold = kind === AlertConditionKind.BELOW || kind === AlertConditionKind.ABOVE;
  const byPercent = kind === AlertConditionKind.DROPS_BY || kind === AlertConditionKind.RISES_BY;
  return { kind, threshold: byThreshold ? value : null, percent: byPercent ? value : null };
}

function shape(row: AlertRow, states: Map<string, { state: AlertState; since: Date }>): Alert {
  const s = states.get(row.id);
  return {
    id: row.id,
    name: row.name,
    metric: row.metric as AlertMetric,
    window: row.window,
    grain: row.grain,
    filter: row.filter === '' ? null : (JSON.parse(row.filter) as CustomerFilterArgs),
    currency: row.currency,
    condition: conditionOf(row.conditionKind, row.conditionValue),
    webhookIds: row.webhookIds,
    createdAt: fromChDateTime(row.createdAt),
    updatedAt: fromChDateTime(row.updatedAt),
    state: s?.state ?? AlertState.OK,
    stateSince: s?.since ?? null,
  };
}

async function alertStates(exec: Executor, ctx: QueryContext): Promise<Map<string, { state: AlertState; since: Date }>> {
  const rows = await exec.rows<{ alertId: string; state: AlertState; since: string }>(alertStatesSql(), ctx);
  return new Map(rows.map((r) => [r.alertId, { state: r.state, since: fromChDateTime(r.since) }]));
}

/** Every alert, oldest first, with its state. */
export async function listAlerts(exec: Executor, ctx: QueryContext): Promise<Alert[]> {
  const [rows, states] = await Promise.all([exec.rows<AlertRow>(alertsSql(null), ctx), alertStates(exec, ctx)]);
  return rows.map((r) => shape(r, states));
}

async function existing(exec: Executor, ctx: QueryContext, id: string): Promise<AlertRow> {
  const [row] = await exec.rows<AlertRow>(alertsSql(id), ctx);
  if (!row) throw new BadInputError(`"id": there is no alert ${JSON.stringify(id)} (never created, or deleted)`, 'id');
  return row;
}

async function store(exec: Executor, ctx: QueryContext, id: string, a: AlertInput, createdAt: Date, updatedAt: Date, deleted: boolean): Promise<void> {
  const c = a.condition;
  await exec.insert(
    ALERTS_TABLE,
    [
      {
        id,
        name: a.name,
        metric: a.metric,
        window_spec: a.window,
        grain: a.grain,
        filter: a.filter === null ? '' : JSON.stringify(a.filter),
        currency: a.currency,
        condition_kind: c.kind,
        condition_value: c.threshold ?? c.percent,
        webhook_ids: a.webhookIds,
        created_at: toChDateTime(createdAt),
        updated_at: toChDateTime(updatedAt),
        deleted: deleted ? 1 : 0,
      },
    ],
    ctx,
  );
}

/**
 * The version of a change: now, but always after the version it replaces, so that a clock
 * that stepped back cannot leave an older definition on top.
 */
function nextVersion(previous: string, now: Date): Date {
  return new Date(Math.max(now.getTime(), fromChDateTime(previous).getTime() + 1));
}

export async function createAlert(exec: Executor, ctx: QueryContext, a: AlertInput, now: Date): Promise<Alert> {
  const count = (await exec.rows<AlertRow>(alertsSql(null), ctx)).length;
  if (count >= MAX_ALERTS) throw new BadInputError(`There are already ${count} alerts, the most the service evaluates; delete one first`, 'name');
  const id = randomUUID();
  await store(exec, ctx, id, a, now, now, false);
  return { ...a, id, createdAt: now, updatedAt: now, state: AlertState.OK, stateSince: null };
}

/** Replaces the definition; the state and history stay with the alert. */
export async function updateAlert(exec: Executor, ctx: QueryContext, id: string, a: AlertInput, now: Date): Promise<Alert> {
  const row = await existing(exec, ctx, id);
  const updatedAt = nextVersion(row.updatedAt, now);
  await store(exec, ctx, id, a, fromChDateTime(row.createdAt), updatedAt, false);
  const s = (await alertStates(exec, ctx)).get(id);
  return { ...a, id, createdAt: fromChDateTime(row.createdAt), updatedAt, state: s?.state ?? AlertState.OK, stateSince: s?.since ?? null };
}

/** Stores a deleted version; its history stays readable by id. */
export async function deleteAlert(exec: Executor, ctx: QueryContext, id: string, now: Date): Promise<boolean> {
  const row = await existing(exec, ctx, id);
  const alert = shape(row, new Map());
  await store(exec, ctx, id, alert, alert.createdAt, nextVersion(row.updatedAt, now), true);
  return true;
}

export interface AlertEvent {
  id: string;
  alertId: string;
  at: Date;
  windowFrom: Date;
  windowTo: Date;
  metric: AlertMetric;
  condition: string;
  value: number | null;
  previousValue: number | null;
  intervalLow: number | null;
  intervalHigh: number | null;
  fromState: AlertState;
  toState: AlertState;
  webhookIds: string[];
}

/**
 * One id per transition of an alert: the alert's and the instant of the transition it follows
 * (`start` for its first). The next transition's id is known before it is made, so one that a
 * crash left published but not stored is found under it (server/alerts/scheduler.ts); a retried
 * insert of it is one row.
 */
export function alertEventId(alertId: string, after: Date | null): string {
  return `${alertId}:after:${after === null ? 'start' : after.toISOString()}`;
}

export async function recordAlertEvent(exec: Executor, ctx: QueryContext, e: AlertEvent): Promise<void> {
  await exec.insert(
    ALERT_EVENTS_TABLE,
    [
      {
        id: e.id,
        alert_id: e.alertId,
        at: toChDateTime(e.at),
        window_from: toChDateTime(e.windowFrom),
        window_to: toChDateTime(e.windowTo),
        metric: e.metric,
        condition: e.condition,
        value: e.value,
        previous_value: e.previousValue,
        interval_low: e.intervalLow,
        interval_high: e.intervalHigh,
        from_state: e.fromState,
        to_state: e.toState,
        webhook_ids: e.webhookIds,
      },
    ],
    ctx,
  );
}

type EventRow = Omit<AlertEvent, 'at' | 'windowFrom' | 'windowTo'> & { at: string; windowFrom: string; windowTo: string };

export interface AlertEventPage {
  edges: { cursor: string; node: AlertEvent }[];
  hasNextPage: boolean;
}

export async function listAlertEvents(exec: Executor, ctx: QueryContext, a: { alertId: string; first: number; after: string | null }): Promise<AlertEventPage> {
  checkFirst(a.first, MAX_PAGE);
  const after = a.after === null ? null : decodeTimeCursor(a.after, 'alertEvents');
  const rows = await exec.rows<EventRow>(alertEventsPageSql({ alertId: a.alertId, after, limit: a.first + 1 }), ctx);
  const nodes = rows.slice(0, a.first).map(
    (r): AlertEvent => ({ ...r, at: fromChDateTime(r.at), windowFrom: fromChDateTime(r.windowFrom), windowTo: fromChDateTime(r.windowTo) }),
  );
  return { edges: nodes.map((node) => ({ cursor: encodeTimeCursor(node.at, node.id), node })), hasNextPage: rows.length > a.first };
}
