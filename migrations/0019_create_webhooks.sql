-- Webhook subscriptions (issue 19, docs/webhooks.md). A change is a new row of a higher
-- `version` (a deletion sets `deleted`), so read with FINAL. `secret` is the HMAC-SHA256 signing
-- key, stored as given back once by createWebhook: the service needs it at every delivery, so
-- it cannot keep a hash only. A handful of rows at most: every node holds all of them, so any
-- instance can check a subscription locally.
-- cluster: every node
CREATE TABLE IF NOT EXISTS ${db}.webhooks (
  id String,
  url String,
  events Array(LowCardinality(String)),
  format Enum8('JSON' = 1, 'SLACK' = 2),
  secret String,
  created_at DateTime64(3, 'UTC'),
  deleted UInt8,
  version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY id;
