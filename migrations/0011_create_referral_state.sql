-- Pre-aggregated referrals: one state per referral, appended to by the materialized view below
-- on every insert into referrals. Every column merges with min or max, so the merged row is the
-- same whatever the order of inserts, and seeing an event twice changes nothing: the backfill
-- at the end may overlap what the view already wrote. Queries read with FINAL, like
-- customer_activity (migration 0010), whose merge settings this table shares.
-- `referred` is the earliest event naming a referred customer, as the tuple (names none,
-- occurred_at, customer id): events naming one sort first, ties by the smaller id, so a referral
-- whose events name no one keeps none = 1. loaders/referral.sql.ts groups raw events the same way.
-- cluster: shard by cityHash64(referral_id)
CREATE TABLE IF NOT EXISTS ${db}.referral_state (
  referral_id String,
  started_at SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
  last_at SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
  clicked SimpleAggregateFunction(max, UInt8),
  signed_up SimpleAggregateFunction(max, UInt8),
  referred SimpleAggregateFunction(min, Tuple(none UInt8, at DateTime64(3, 'UTC'), customer_id String))
) ENGINE = AggregatingMergeTree
PARTITION BY cityHash64(referral_id) % 8
ORDER BY referral_id
SETTINGS min_age_to_force_merge_seconds = 2, min_age_to_force_merge_on_partition_only = 1,
  merge_selecting_sleep_ms = 1000, max_merge_selecting_sleep_ms = 2000;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.referral_state_mv TO ${db}.referral_state AS
SELECT referral_id, min(occurred_at) AS started_at, max(occurred_at) AS last_at,
  max(stage IN ('CLICKED', 'SIGNED_UP')) AS clicked, max(stage = 'SIGNED_UP') AS signed_up,
  min((referred_customer_id IS NULL, occurred_at, ifNull(referred_customer_id, ''))) AS referred
FROM ${db}.referrals
GROUP BY referral_id;

-- The referrals stored before this migration, grouped as the view does.
INSERT INTO ${db}.referral_state
SELECT referral_id, min(occurred_at) AS started_at, max(occurred_at) AS last_at,
  max(stage IN ('CLICKED', 'SIGNED_UP')) AS clicked, max(stage = 'SIGNED_UP') AS signed_up,
  min((referred_customer_id IS NULL, occurred_at, ifNull(referred_customer_id, ''))) AS referred
FROM ${db}.referrals
GROUP BY referral_id;
