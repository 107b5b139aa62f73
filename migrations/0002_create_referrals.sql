-- A referral is all events sharing referral_id; sorting by it keeps a referral's stages together.
-- cluster: shard by cityHash64(referral_id)
CREATE TABLE IF NOT EXISTS ${db}.referrals (
  event_id String,
  referral_id String,
  stage Enum8('INVITED' = 1, 'CLICKED' = 2, 'SIGNED_UP' = 3),
  referrer_id String,
  referred_customer_id Nullable(String),
  occurred_at DateTime64(3, 'UTC'),
  channel LowCardinality(Nullable(String)),
  received_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = MergeTree
PARTITION BY toYear(occurred_at)
ORDER BY (referral_id, occurred_at, event_id);
