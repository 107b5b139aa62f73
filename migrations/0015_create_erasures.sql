-- Customer erasures (spec section 16). One row per erasure and step: `done` 0 is written before
-- anything is deleted, `done` 1 once the raw rows are gone and the states rebuilt; a start finds
-- the erasures still at 0 and finishes them (server/ingest/erasures.ts). No customer id is
-- stored: `customer_hashes` are HMAC-SHA256 of the ids under ERASURE_HMAC_KEY, enough to reject
-- a replayed event and to find the rows again, and `state_keys` are the hashed keys of the
-- pre-aggregated state rows to rebuild, by state table. Read with FINAL: the row of the later
-- step replaces the earlier one.
-- cluster: shard by cityHash64(id)
CREATE TABLE IF NOT EXISTS ${db}.erasures (
  id String,
  erased_at DateTime64(3, 'UTC'),
  customers UInt32,
  events UInt64,
  customer_hashes Array(String),
  state_keys Map(String, Array(String)),
  done UInt8
) ENGINE = ReplacingMergeTree(done)
ORDER BY id;
