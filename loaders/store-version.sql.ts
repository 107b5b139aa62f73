import type { SqlQuery } from '../server/storage/executor.js';
import { systemParts } from '../server/storage/parts.js';

export type VersionedTable = 'purchases' | 'refunds';

/**
 * A cheap fingerprint of what raw tables hold, from their parts' metadata instead of their rows
 * (reading `count(), max(received_at)` scanned a column of every purchase per request). Any
 * insert adds a part with a higher block number and more rows; a mutation (a delete included)
 * rewrites parts under a new data version. A merge can change the version too, which only costs
 * a recomputation. On a cluster the parts sit on every shard under `<table>_local`.
 */
export function storeVersionSql(tables: readonly VersionedTable[], cluster: string | undefined): SqlQuery {
  return {
    query: `
      SELECT table, toString(sum(rows)) AS rows, toString(max(max_block_number)) AS block, toString(max(data_version)) AS version
      FROM ${systemParts(cluster)}
      WHERE database = {db:String} AND table IN {tables:Array(String)} AND active
      GROUP BY table
      ORDER BY table`,
    query_params: { tables: tables.map((t) => (cluster === undefined ? t : `${t}_local`)) },
  };
}
