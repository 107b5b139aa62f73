-- The daily customer.at_risk job (docs/webhooks.md): the at-risk customer ids its last run found,
-- so the next run publishes only those that entered the list since. Each run writes the row of
-- `job` 'customer.at_risk' again with a later `ran_at`, which replaces the earlier one: one row,
-- read with FINAL, holding at most the list's first 1000 customers (the most atRiskCustomers lists).
-- cluster: every node
CREATE TABLE IF NOT EXISTS ${db}.at_risk_runs (
  job String,
  ran_at DateTime64(3, 'UTC'),
  customer_ids Array(String)
) ENGINE = ReplacingMergeTree(ran_at)
ORDER BY job;
