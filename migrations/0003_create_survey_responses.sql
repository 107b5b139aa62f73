-- cluster: shard by cityHash64(customer_id)
CREATE TABLE IF NOT EXISTS ${db}.survey_responses (
  event_id String,
  customer_id String,
  survey_id String,
  kind Enum8('NPS' = 1, 'CSAT' = 2),
  score UInt8,
  occurred_at DateTime64(3, 'UTC'),
  comment Nullable(String),
  received_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = MergeTree
PARTITION BY toYear(occurred_at)
ORDER BY (customer_id, occurred_at, event_id);
