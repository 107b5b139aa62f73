-- The webhook outbox and delivery log (docs/webhooks.md, "Delivery"). Append-only: `seq` 0 is
-- the queued delivery, written before `publish` returns (it alone carries the `body`); each
-- attempt appends the row of `seq` = its number, with the outcome and the next attempt's time.
-- A delivery's state is its row of the highest seq, so a restart finds the pending deliveries
-- (latest state PENDING) and resumes them at `next_attempt_at`. `customer_ids` name the
-- customers a body carries, so an erasure can delete their deliveries (spec section 16). Rows
-- are kept 30 days after they were stored (the engine's clock, `stored_at`: housekeeping, not a
-- delivery's time); a delivery is settled within 24 hours.
-- cluster: shard by cityHash64(id)
CREATE TABLE IF NOT EXISTS ${db}.webhook_deliveries (
  id String,
  webhook_id String,
  event LowCardinality(String),
  seq UInt32,
  status Enum8('PENDING' = 1, 'DELIVERED' = 2, 'GAVE_UP' = 3),
  body String,
  customer_ids Array(String),
  created_at DateTime64(3, 'UTC'),
  recorded_at DateTime64(3, 'UTC'),
  next_attempt_at Nullable(DateTime64(3, 'UTC')),
  status_code Nullable(UInt16),
  error String,
  response_body String,
  stored_at DateTime DEFAULT now()
) ENGINE = MergeTree
ORDER BY (webhook_id, id, seq)
TTL stored_at + INTERVAL 30 DAY;
