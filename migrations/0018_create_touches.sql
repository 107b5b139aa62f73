-- One row per follow-up touch (spec section 15): a campaign SENT to a customer, OPENED or CLICKED
-- by them, or a customer HELD_OUT of it as control. A customer's assignment (their earliest SENT or
-- HELD_OUT of a campaign) is decided at read time as of each asOf (loaders/follow-up.sql.ts), so a
-- late touch needs no rewrite. Sorted by campaign first: followUpImpact reads one campaign's rows,
-- a customer's touches of it together. Sharded by customer like purchases, so a customer's touches
-- sit on the shard that holds their orders.
-- cluster: shard by cityHash64(customer_id)
CREATE TABLE IF NOT EXISTS ${db}.touches (
  event_id String,
  customer_id String,
  occurred_at DateTime64(3, 'UTC'),
  campaign String,
  stage Enum8('SENT' = 1, 'OPENED' = 2, 'CLICKED' = 3, 'HELD_OUT' = 4),
  channel LowCardinality(Nullable(String)),
  received_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = MergeTree
PARTITION BY toYear(occurred_at)
ORDER BY (campaign, customer_id, occurred_at, event_id);
