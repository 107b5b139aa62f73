-- Migration 0010 created customer_activity without a backfill: purchases stored before it never
-- reached the state, and the pre-aggregated KPIs missed them. Rebuild the state from the raw
-- purchases, grouped as customer_activity_mv groups one insert (tests/state-upgrade.test.ts
-- compares the result with the raw tables). Runs at start, before ingest is accepted; on a store
-- whose state was complete this rebuilds the same rows. On a cluster the TRUNCATE targets each
-- shard's local table, and the backfill writes through the Distributed table to the shards.
TRUNCATE TABLE IF EXISTS ${db}.customer_activity;

INSERT INTO ${db}.customer_activity
SELECT customer_id, min(first_at) AS first_at, max(last_at) AS last_at,
  groupUniqArray(month) AS months,
  groupArray(CAST((month, currency, amount, orders), 'Tuple(month UInt16, currency FixedString(3), amount Decimal(38, 4), orders UInt32)')) AS sales
FROM (
  SELECT customer_id, toUInt16(toYear(occurred_at) * 12 + toMonth(occurred_at) - 1) AS month, toFixedString(toString(currency), 3) AS currency,
    min(occurred_at) AS first_at, max(occurred_at) AS last_at, sum(toDecimal128(amount, 4)) AS amount, toUInt32(count()) AS orders
  FROM ${db}.purchases
  GROUP BY customer_id, month, currency
)
GROUP BY customer_id;
