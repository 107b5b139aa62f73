import type { Executor, QueryContext } from './executor.js';

const CTX: QueryContext = { requestId: 'parts' };

/** `system.parts` of this node, or of every replica on a cluster (where the parts sit under `<table>_local`). */
export function systemParts(cluster: string | undefined): string {
  // The cluster name passed config's identifier check: it cannot carry anything but [A-Za-z0-9_].
  return cluster === undefined ? 'system.parts' : `clusterAllReplicas(${cluster}, system.parts)`;
}

/**
 * The most active parts any one partition of each of the service's tables holds. This is the
 * figure the engine's insert throttle watches (`parts_to_delay_insert`, `parts_to_throw_insert`
 * → TOO_MANY_PARTS): many small writes add parts faster than merges fold them, and it says how
 * close a trickle of webhooks comes to that limit. On a cluster the parts sit on every replica
 * under `<table>_local`, and the limit holds per replica: the most over replicas is reported,
 * under the table's own name.
 */
export async function activePartsByTable(exec: Executor): Promise<Map<string, number>> {
  const rows = await exec.rows<{ table: string; parts: number }>(
    {
      query: `
        SELECT replaceRegexpOne(table, '_local$', '') AS table, toUInt32(max(n)) AS parts
        FROM (SELECT hostName() AS host, table, partition_id, count() AS n FROM ${systemParts(exec.storage.cluster)}
              WHERE database = {db:String} AND active GROUP BY host, table, partition_id)
        GROUP BY table
        ORDER BY table`,
      query_params: {},
    },
    CTX,
  );
  return new Map(rows.map((r) => [r.table, Number(r.parts)]));
}
