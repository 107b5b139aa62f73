-- Alert history (issue 19): one row per state transition, OK -> FIRING or FIRING -> OK, with
-- what the evaluation saw: the window, the metric's value, the previous window's value and, for
-- OUTSIDE_INTERVAL, the current value's Wilson interval. Evaluations that change nothing are not
-- stored, so the table grows with transitions, not with time. An alert's state is its latest
-- row's `to_state` (OK without rows). The id is the alert id and the evaluation instant, so a
-- retried insert of the same transition folds into one row.
-- cluster: every node
CREATE TABLE IF NOT EXISTS ${db}.alert_events (
  id String,
  alert_id String,
  at DateTime64(3, 'UTC'),
  window_from DateTime64(3, 'UTC'),
  window_to DateTime64(3, 'UTC'),
  metric LowCardinality(String),
  condition String,
  value Nullable(Float64),
  previous_value Nullable(Float64),
  interval_low Nullable(Float64),
  interval_high Nullable(Float64),
  from_state Enum8('OK' = 1, 'FIRING' = 2),
  to_state Enum8('OK' = 1, 'FIRING' = 2),
  webhook_ids Array(String)
) ENGINE = ReplacingMergeTree
ORDER BY (alert_id, at, id);
