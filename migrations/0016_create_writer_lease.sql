-- The writer lease (docs/architecture.md, "One writer"): which process may ingest into this
-- database. A claim of term N is inserted with the deduplication token `writer-lease-term-N`, so
-- of two processes claiming the same term only one row is stored (the engine's deduplication is
-- the compare-and-set ClickHouse otherwise lacks); renewals add rows of the same (term, holder)
-- with a later heartbeat, which the engine folds into one. The lease is the row of the highest
-- term. The deduplication window covers the last 1000 inserts: concurrent claims are seconds apart.
-- On a cluster the table is not sharded: every node holds all of it, replicated through Keeper,
-- so that the deduplication is one check across the cluster.
-- cluster: every node
CREATE TABLE IF NOT EXISTS ${db}.writer_lease (
  term UInt64,
  holder String,
  host String,
  pid UInt32,
  started_at DateTime64(3, 'UTC'),
  claimed_at DateTime64(3, 'UTC'),
  heartbeat_at DateTime64(3, 'UTC'),
  expires_at DateTime64(3, 'UTC')
) ENGINE = ReplacingMergeTree(heartbeat_at)
ORDER BY (term, holder)
SETTINGS non_replicated_deduplication_window = 1000;
