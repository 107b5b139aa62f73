import type { SqlQuery } from '../server/storage/executor.js';
import type { PageCursor } from './cursor.js';
import { Params, T } from './sql.js';

/** Table names for inserts (the executor adds the database); reads go through T. */
export const ALERTS_TABLE = 'alerts';
export const ALERT_EVENTS_TABLE = 'alert_events';

const ALERT_COLUMNS =
  'id, name, metric, window_spec AS window, grain, filter, currency, condition_kind AS conditionKind, condition_value AS conditionValue, ' +
  'webhook_ids AS webhookIds, created_at AS createdAt, updated_at AS updatedAt';

/**
 * The latest version of each alert that is not deleted, oldest first; one alert when `id` is
 * given. FINAL folds the versions (ReplacingMergeTree(updated_at, deleted)) before the WHERE.
 */
export function alertsSql(id: string | null): SqlQuery {
  const p = new Params();
  const where = ['deleted = 0', ...(id === null ? [] : [`id = ${p.add('String', id)}`])];
  return p.sql(`SELECT ${ALERT_COLUMNS} FROM ${T.alerts} FINAL WHERE ${where.join(' AND ')} ORDER BY created_at, id`);
}

/** Each alert's state: the target of its latest transition, and when it happened. Alerts without one are OK. */
export function alertStatesSql(): SqlQuery {
  return new Params().sql(`SELECT alert_id AS alertId, toString(argMax(to_state, (at, id))) AS state, max(at) AS since FROM ${T.alertEvents} GROUP BY alert_id`);
}

const EVENT_COLUMNS =
  'id, alert_id AS alertId, at, window_from AS windowFrom, window_to AS windowTo, metric, condition, value, previous_value AS previousValue, ' +
  'interval_low AS intervalLow, interval_high AS intervalHigh, toString(from_state) AS fromState, toString(to_state) AS toState, webhook_ids AS webhookIds';

export interface AlertEventPageArgs {
  alertId: string;
  after: PageCursor | null;
  /** Rows to read: one more than the page, to learn whether another page follows. */
  limit: number;
}

/** One alert's transitions, newest first; keyset pagination on (at, id) like kpiSnapshots. */
export function alertEventsPageSql(a: AlertEventPageArgs): SqlQuery {
  const p = new Params();
  const where = [`alert_id = ${p.add('String', a.alertId)}`];
  if (a.after) where.push(`(at, id) < (${p.time(a.after.at)}, ${p.add('String', a.after.id)})`);
  // FINAL: a retried insert of one transition is one row.
  return p.sql(`SELECT ${EVENT_COLUMNS} FROM ${T.alertEvents} FINAL WHERE ${where.join(' AND ')} ORDER BY at DESC, id DESC LIMIT ${p.add('UInt32', a.limit)}`);
}
