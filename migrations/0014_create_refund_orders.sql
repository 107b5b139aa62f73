-- Pre-aggregated refunds (spec section 12): one state per refunded order, keyed like a refund's
-- order: (customer, currency, order key = the purchase's orderId, else its eventId). It holds
-- the order's purchases and its refunds, each as (occurred_at, event_id, amount), all of them
-- whatever their dates: which purchase a refund belongs to (the earliest) and whether the
-- refunds cancel it as of an asOf is decided when reading (loaders/refunds.sql.ts), so a late
-- or out-of-order event needs no rewrite. Only keys with both a purchase and a refund have a
-- row: a few percent of the orders, so the KPIs read it whole instead of the purchases of every
-- customer with a refund.
-- Two views feed it, one per source table, and each joins its block with the other table
-- through the customer_id key (inside a view, a reference to its own source table reads the
-- inserted block): whichever of a purchase and its refund is stored second brings the pair.
-- The sets merge by union (groupUniqArrayArray), so a purchase or refund written by both views
-- counts once, and merged or not the state is the union of the rows written, as
-- refund_orders_source computes it from the raw tables (backfill, check and repair).
-- The single writer stores the tables one after the other, never concurrently, so neither view
-- misses a pair stored at the same time.
-- cluster: shard by cityHash64(customer_id)
CREATE TABLE IF NOT EXISTS ${db}.refund_orders (
  customer_id String,
  currency LowCardinality(String),
  order_key String,
  purchases SimpleAggregateFunction(groupUniqArrayArray, Array(Tuple(at DateTime64(3, 'UTC'), event_id String, amount Decimal(18, 4)))),
  refunds SimpleAggregateFunction(groupUniqArrayArray, Array(Tuple(at DateTime64(3, 'UTC'), event_id String, amount Decimal(18, 4))))
) ENGINE = AggregatingMergeTree
PARTITION BY cityHash64(customer_id) % 8
ORDER BY (customer_id, currency, order_key)
SETTINGS min_age_to_force_merge_seconds = 2, min_age_to_force_merge_on_partition_only = 1,
  merge_selecting_sleep_ms = 1000, max_merge_selecting_sleep_ms = 2000;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.refund_orders_refunds_mv TO ${db}.refund_orders AS
SELECT r.customer_id AS customer_id, r.currency AS currency, r.order_key AS order_key, p.purchases AS purchases, r.refunds AS refunds
FROM (
  SELECT customer_id, toString(currency) AS currency, order_id AS order_key, groupArray((occurred_at, event_id, amount)) AS refunds
  FROM ${db}.refunds GROUP BY customer_id, currency, order_key
) AS r
INNER JOIN (
  SELECT customer_id, toString(currency) AS currency, ifNull(order_id, event_id) AS order_key, groupArray((occurred_at, event_id, amount)) AS purchases
  FROM ${db}.purchases WHERE customer_id IN (SELECT customer_id FROM ${db}.refunds) GROUP BY customer_id, currency, order_key
) AS p USING (customer_id, currency, order_key);

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.refund_orders_purchases_mv TO ${db}.refund_orders AS
SELECT p.customer_id AS customer_id, p.currency AS currency, p.order_key AS order_key, p.purchases AS purchases, r.refunds AS refunds
FROM (
  SELECT customer_id, toString(currency) AS currency, ifNull(order_id, event_id) AS order_key, groupArray((occurred_at, event_id, amount)) AS purchases
  FROM ${db}.purchases GROUP BY customer_id, currency, order_key
) AS p
INNER JOIN (
  SELECT customer_id, toString(currency) AS currency, order_id AS order_key, groupArray((occurred_at, event_id, amount)) AS refunds
  FROM ${db}.refunds WHERE customer_id IN (SELECT customer_id FROM ${db}.purchases) GROUP BY customer_id, currency, order_key
) AS r USING (customer_id, currency, order_key);

-- The state computed from the raw tables: what the two views write, merged. The backfill below,
-- `npm run verify-state` and the repair of a partition read it.
CREATE VIEW IF NOT EXISTS ${db}.refund_orders_source AS
SELECT r.customer_id AS customer_id, r.currency AS currency, r.order_key AS order_key, p.purchases AS purchases, r.refunds AS refunds
FROM (
  SELECT customer_id, toString(currency) AS currency, order_id AS order_key, groupArray((occurred_at, event_id, amount)) AS refunds
  FROM ${db}.refunds GROUP BY customer_id, currency, order_key
) AS r
INNER JOIN (
  SELECT customer_id, toString(currency) AS currency, ifNull(order_id, event_id) AS order_key, groupArray((occurred_at, event_id, amount)) AS purchases
  FROM ${db}.purchases WHERE customer_id IN (SELECT customer_id FROM ${db}.refunds) GROUP BY customer_id, currency, order_key
) AS p USING (customer_id, currency, order_key);

-- The refunds and purchases stored before this migration.
INSERT INTO ${db}.refund_orders SELECT customer_id, currency, order_key, purchases, refunds FROM ${db}.refund_orders_source;

-- customer_activity's `months` becomes a multiset: one entry per purchase instead of one per
-- month and insert, so a cancelled order's month can be taken out once and a month stays active
-- while other orders remain in it (loaders/activity.sql.ts). Readers already allow repeats.
-- The view is replaced and the state rebuilt from the raw purchases, as migration 0012 did;
-- this runs at start, before ingest is accepted.
DROP VIEW IF EXISTS ${db}.customer_activity_mv;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.customer_activity_mv TO ${db}.customer_activity AS
SELECT customer_id, min(first_at) AS first_at, max(last_at) AS last_at,
  groupArrayArray(arrayWithConstant(orders, month)) AS months,
  groupArray(CAST((month, currency, amount, orders), 'Tuple(month UInt16, currency FixedString(3), amount Decimal(38, 4), orders UInt32)')) AS sales
FROM (
  SELECT customer_id, toUInt16(toYear(occurred_at) * 12 + toMonth(occurred_at) - 1) AS month, toFixedString(toString(currency), 3) AS currency,
    min(occurred_at) AS first_at, max(occurred_at) AS last_at, sum(toDecimal128(amount, 4)) AS amount, toUInt32(count()) AS orders
  FROM ${db}.purchases
  GROUP BY customer_id, month, currency
)
GROUP BY customer_id;

TRUNCATE TABLE IF EXISTS ${db}.customer_activity;

INSERT INTO ${db}.customer_activity
SELECT customer_id, min(first_at) AS first_at, max(last_at) AS last_at,
  groupArrayArray(arrayWithConstant(orders, month)) AS months,
  groupArray(CAST((month, currency, amount, orders), 'Tuple(month UInt16, currency FixedString(3), amount Decimal(38, 4), orders UInt32)')) AS sales
FROM (
  SELECT customer_id, toUInt16(toYear(occurred_at) * 12 + toMonth(occurred_at) - 1) AS month, toFixedString(toString(currency), 3) AS currency,
    min(occurred_at) AS first_at, max(occurred_at) AS last_at, sum(toDecimal128(amount, 4)) AS amount, toUInt32(count()) AS orders
  FROM ${db}.purchases
  GROUP BY customer_id, month, currency
)
GROUP BY customer_id;
