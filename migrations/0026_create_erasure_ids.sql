-- The ids of the erasure running now (server/storage/erase.ts, `withIdSet`). The engine keeps the
-- text of every mutation (system.mutations, a mutation_N.txt beside the table's parts; on a
-- cluster, Keeper's queue too), so a DELETE that carried the ids would keep them in plain text.
-- The deletes name this table instead, whose rows live only while the erasure runs: emptied
-- before and after each use, and by the next erasure step after a crash. On a cluster every
-- node holds all of them, since each shard's mutation reads its own copy.
-- cluster: every node
CREATE TABLE IF NOT EXISTS ${db}.erasure_ids (
  id String
) ENGINE = MergeTree
ORDER BY id;
