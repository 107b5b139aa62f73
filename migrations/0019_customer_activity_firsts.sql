-- customer_activity gains `firsts`: each customer's four earliest purchase instants, repeats
-- kept (groupArraySorted merges exactly, whatever the parts). When refunds cancel a customer's
-- first order, their first purchase is the earliest of these not cancelled, so it is found
-- without reading the customer's raw purchases (loaders/activity.sql.ts,
-- firstPurchasesFromState). The view is replaced and the state rebuilt from the raw purchases,
-- as migrations 0012 and 0014 did; this runs at start, before ingest is accepted.
-- The INSERT below lists the columns in the table's order, the new one last.
ALTER TABLE ${db}.customer_activity ADD COLUMN IF NOT EXISTS firsts AggregateFunction(groupArraySorted(4), DateTime64(3, 'UTC'));

DROP VIEW IF EXISTS ${db}.customer_activity_mv;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.customer_activity_mv TO ${db}.customer_activity AS
SELECT customer_id, min(first_at) AS first_at, max(last_at) AS last_at,
  groupArrayArray(arrayWithConstant(orders, month)) AS months,
  groupArray(CAST((month, currency, amount, orders), 'Tuple(month UInt16, currency FixedString(3), amount Decimal(38, 4), orders UInt32)')) AS sales,
  groupArraySortedStateArray(4)(earliest) AS firsts
FROM (
  SELECT customer_id, toUInt16(toYear(occurred_at) * 12 + toMonth(occurred_at) - 1) AS month, toFixedString(toString(currency), 3) AS currency,
    min(occurred_at) AS first_at, max(occurred_at) AS last_at, sum(toDecimal128(amount, 4)) AS amount, toUInt32(count()) AS orders,
    groupArraySorted(4)(occurred_at) AS earliest
  FROM ${db}.purchases
  GROUP BY customer_id, month, currency
)
GROUP BY customer_id;

TRUNCATE TABLE IF EXISTS ${db}.customer_activity;

INSERT INTO ${db}.customer_activity
SELECT customer_id, min(first_at) AS first_at, max(last_at) AS last_at,
  groupArrayArray(arrayWithConstant(orders, month)) AS months,
  groupArray(CAST((month, currency, amount, orders), 'Tuple(month UInt16, currency FixedString(3), amount Decimal(38, 4), orders UInt32)')) AS sales,
  groupArraySortedStateArray(4)(earliest) AS firsts
FROM (
  SELECT customer_id, toUInt16(toYear(occurred_at) * 12 + toMonth(occurred_at) - 1) AS month, toFixedString(toString(currency), 3) AS currency,
    min(occurred_at) AS first_at, max(occurred_at) AS last_at, sum(toDecimal128(amount, 4)) AS amount, toUInt32(count()) AS orders,
    groupArraySorted(4)(occurred_at) AS earliest
  FROM ${db}.purchases
  GROUP BY customer_id, month, currency
)
GROUP BY customer_id;
