-- One row per loyalty program event (spec section 14). Membership and tier at an instant are
-- decided at read time from the JOINED, LEFT and TIER_CHANGED rows up to that instant
-- (loaders/loyalty.sql.ts), so a late event restates the past without a rewrite. `tier` is kept
-- for every action that carries one (a JOINED may), `points` for the points actions.
-- Sorted and sharded by customer like the other customer events: a customer's membership is
-- read from one key range, on one shard.
-- cluster: shard by cityHash64(customer_id)
CREATE TABLE IF NOT EXISTS ${db}.loyalty_events (
  event_id String,
  customer_id String,
  occurred_at DateTime64(3, 'UTC'),
  action Enum8('JOINED' = 1, 'TIER_CHANGED' = 2, 'POINTS_EARNED' = 3, 'POINTS_REDEEMED' = 4, 'LEFT' = 5),
  tier Nullable(String),
  points Nullable(UInt32),
  received_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = MergeTree
PARTITION BY toYear(occurred_at)
ORDER BY (customer_id, occurred_at, event_id);
