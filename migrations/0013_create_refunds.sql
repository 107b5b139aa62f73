-- One row per refund event (spec section 12). A refund belongs to the purchase of the same
-- customer and currency whose order key (orderId, else eventId) equals its order_id; which
-- purchase that is, and whether the refunds cancel it, is decided at read time as of each
-- asOf (loaders/refunds.sql.ts), so a late or out-of-order refund needs no rewrite of the past.
-- Sorted and sharded like purchases, by customer first: the readers find a customer's refunds
-- and purchases through the same key, on the same shard.
-- cluster: shard by cityHash64(customer_id)
CREATE TABLE IF NOT EXISTS ${db}.refunds (
  event_id String,
  customer_id String,
  order_id String,
  occurred_at DateTime64(3, 'UTC'),
  amount Decimal(18, 4),
  currency LowCardinality(String),
  reason Nullable(String),
  received_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = MergeTree
PARTITION BY toYear(occurred_at)
ORDER BY (customer_id, occurred_at, event_id);
