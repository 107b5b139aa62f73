-- Persisted kpiSnapshot results. `snapshot` holds the KpiSnapshot object as JSON, exactly as
-- it was computed, so a stored snapshot answers the same forever whatever events arrive
-- later; the typed columns repeat its headline values for SQL and BI tools. Read by name,
-- newest first, hence the sort key.
-- cluster: shard by cityHash64(name)
CREATE TABLE IF NOT EXISTS ${db}.kpi_snapshots (
  id String,
  name String,
  window_from DateTime64(3, 'UTC'),
  window_to DateTime64(3, 'UTC'),
  grain Enum8('DAY' = 1, 'WEEK' = 2, 'MONTH' = 3, 'QUARTER' = 4, 'YEAR' = 5),
  currency LowCardinality(String),
  as_of DateTime64(3, 'UTC'),
  customers UInt64,
  new_customers UInt64,
  orders UInt64,
  revenue Float64,
  repeat_purchase_rate Nullable(Float64),
  retention_rate Nullable(Float64),
  clv Nullable(Float64),
  nps Nullable(Float64),
  csat Nullable(Float64),
  snapshot String,
  definitions_version UInt32,
  created_at DateTime64(3, 'UTC')
) ENGINE = MergeTree
ORDER BY (name, created_at, id);
