-- One row per purchase event (one order). Sorted by customer then time: the KPI queries
-- group by customer, and ingestion finds already-stored eventIds through this prefix
-- (see docs/architecture.md, "Exactly once").
-- cluster: shard by cityHash64(customer_id)
CREATE TABLE IF NOT EXISTS ${db}.purchases (
  event_id String,
  customer_id String,
  occurred_at DateTime64(3, 'UTC'),
  amount Decimal(18, 4),
  currency LowCardinality(String),
  order_id Nullable(String),
  channel LowCardinality(Nullable(String)),
  received_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = MergeTree
PARTITION BY toYear(occurred_at)
ORDER BY (customer_id, occurred_at, event_id);
