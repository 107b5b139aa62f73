import type { Executor, QueryContext } from './executor.js';

/**
 * Feedback retention (docs/architecture.md, "Feedback retention"): survey comments older than
 * COMMENT_RETENTION_DAYS are removed by the engine, through a TTL on the `comment` column. The
 * scores stay: no KPI reads the text.
 */

const CTX: QueryContext = { requestId: 'comment-retention' };

/** How the engine prints the column's TTL back (system.tables.create_table_query). */
const STORED_TTL = /`comment` Nullable\(String\) TTL occurred_at \+ toIntervalDay\((\d+)\)/;

/** On a cluster the TTL belongs to each shard's local table; the Distributed one holds no rows. */
function localTable(cluster: string | undefined): string {
  return cluster === undefined ? 'survey_responses' : 'survey_responses_local';
}

/**
 * The ALTER that makes the table enforce `days` (undefined: keep forever). Names and days are
 * written into the text, as in the migrations: the database and cluster are identifiers checked
 * by the configuration, and a bound `days` would be stored as _CAST(…) in the table's DDL, which
 * the next start reads back (STORED_TTL).
 */
export function commentRetentionDdl(database: string, cluster: string | undefined, days: number | undefined): string {
  if (days !== undefined && !(Number.isSafeInteger(days) && days > 0)) throw new RangeError(`comment retention must be a positive number of days, got ${days}`);
  const change = days === undefined ? 'REMOVE TTL' : `Nullable(String) TTL occurred_at + toIntervalDay(${days})`;
  return `ALTER TABLE ${database}.${localTable(cluster)}${cluster === undefined ? '' : ` ON CLUSTER ${cluster}`} MODIFY COLUMN comment ${change}`;
}

/** The retention the table enforces now, in days; undefined when comments are kept forever. */
export async function storedCommentRetention(exec: Executor): Promise<number | undefined> {
  const [row] = await exec.rows<{ ddl: string }>(
    {
      query: 'SELECT create_table_query AS ddl FROM system.tables WHERE database = {db:String} AND name = {t:String}',
      query_params: { t: localTable(exec.storage.cluster) },
    },
    CTX,
  );
  const days = STORED_TTL.exec(row?.ddl ?? '')?.[1];
  return days === undefined ? undefined : Number(days);
}

export interface RetentionChange {
  from: number | undefined;
  to: number | undefined;
  changed: boolean;
}

/**
 * Makes the table enforce `days` (undefined: keep forever), altering it only when that differs
 * from what it enforces. Setting a TTL also rewrites the parts holding expired comments
 * (`materialize_ttl_after_modify`), as a mutation that runs in the background unless `wait`.
 */
export async function applyCommentRetention(exec: Executor, days: number | undefined, options: { wait?: boolean } = {}): Promise<RetentionChange> {
  const from = await storedCommentRetention(exec);
  if (from === days) return { from, to: days, changed: false };
  await exec.command(commentRetentionDdl(exec.database, exec.storage.cluster, days), CTX, {
    materialize_ttl_after_modify: 1,
    ...(options.wait ? { mutations_sync: '2' } : {}),
  });
  return { from, to: days, changed: true };
}

/**
 * Comments stored past `days` (a TTL merge or the materialization has not reached them yet). The
 * partition key (year of occurred_at) limits the read to the partitions that can hold them.
 */
export async function commentsPastRetention(exec: Executor, days: number): Promise<number> {
  const [row] = await exec.rows<{ n: number }>(
    {
      query:
        'SELECT count() AS n FROM {db:Identifier}.survey_responses WHERE occurred_at < now64(3) - toIntervalDay({days:UInt32}) AND comment IS NOT NULL',
      query_params: { days },
    },
    CTX,
  );
  return row?.n ?? 0;
}
