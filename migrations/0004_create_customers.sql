-- Profile versions. The version that holds is the latest occurred_at, then the latest
-- received_seq (a per-process monotonic receive order), as the spec's tie-break asks.
-- cluster: shard by cityHash64(customer_id)
CREATE TABLE IF NOT EXISTS ${db}.customers (
  event_id String,
  customer_id String,
  occurred_at DateTime64(3, 'UTC'),
  country LowCardinality(Nullable(String)),
  channel LowCardinality(Nullable(String)),
  segment LowCardinality(Nullable(String)),
  received_seq UInt64,
  received_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = MergeTree
ORDER BY (customer_id, occurred_at, received_seq);
