-- Alert definitions (issue 19, docs/alerts.md). Versioned: createAlert, updateAlert and
-- deleteAlert each insert the whole definition again with a later `updated_at`, and `deleted` 1
-- marks the last version of a deleted alert; reads use FINAL, which keeps each alert's latest
-- version and drops deleted ones. `filter` is the CustomerFilter as JSON, `currency` NULL means
-- the reporting currency at evaluation. On a cluster the table is small and read by the writer
-- right after an API call on any node wrote it, so every node holds all of it.
-- cluster: every node
CREATE TABLE IF NOT EXISTS ${db}.alerts (
  id String,
  name String,
  metric LowCardinality(String),
  window_spec String,
  grain Enum8('DAY' = 1, 'WEEK' = 2, 'MONTH' = 3, 'QUARTER' = 4, 'YEAR' = 5),
  filter String,
  currency Nullable(String),
  condition_kind Enum8('BELOW' = 1, 'ABOVE' = 2, 'DROPS_BY' = 3, 'RISES_BY' = 4, 'OUTSIDE_INTERVAL' = 5),
  condition_value Nullable(Float64),
  webhook_ids Array(String),
  created_at DateTime64(3, 'UTC'),
  updated_at DateTime64(3, 'UTC'),
  deleted UInt8
) ENGINE = ReplacingMergeTree(updated_at, deleted)
ORDER BY id;
