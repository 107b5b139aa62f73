-- Pre-aggregated purchase history: one state per customer, appended to by the materialized
-- view below on every insert into purchases. Each column merges exactly whatever the order of
-- inserts (min, max, array concatenation), so a late event earlier than a customer's first
-- purchase moves first_at; since the writer stores an eventId once, the view sees every
-- purchase once. Queries read with FINAL, which merges parts not merged yet at read time;
-- the force-merge settings fold each partition back into one part a few seconds after
-- writes stop, and FINAL over a single-part partition costs nothing.
-- Months are UTC month numbers (year * 12 + month - 1); `sales` holds per-insert partial sums
-- per (month, currency). Currencies are ISO 4217 codes (three letters, validated at
-- ingestion), kept as FixedString(3) for cheap comparisons: a longer code fails the insert
-- instead of being miscounted. See docs/architecture.md, "Pre-aggregation".
-- cluster: shard by cityHash64(customer_id)
CREATE TABLE IF NOT EXISTS ${db}.customer_activity (
  customer_id String,
  first_at SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
  last_at SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
  months SimpleAggregateFunction(groupArrayArray, Array(UInt16)),
  sales SimpleAggregateFunction(groupArrayArray, Array(Tuple(month UInt16, currency FixedString(3), amount Decimal(38, 4), orders UInt32)))
) ENGINE = AggregatingMergeTree
PARTITION BY cityHash64(customer_id) % 8
ORDER BY customer_id
SETTINGS min_age_to_force_merge_seconds = 2, min_age_to_force_merge_on_partition_only = 1,
  merge_selecting_sleep_ms = 1000, max_merge_selecting_sleep_ms = 2000;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.customer_activity_mv TO ${db}.customer_activity AS
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
