import { createHash, createHmac } from 'node:crypto';
import type { Executor, QueryContext } from './executor.js';

/**
 * Keyed hashes of customer ids (docs/architecture.md, "Erasure"): HMAC-SHA256 under
 * ERASURE_HMAC_KEY, as lower-case hex. The service stores erased customers only this way, and the
 * engine computes the same HMAC over stored ids (`keyedHashSql`), so a restart can find the rows of
 * an unfinished erasure again without ever having stored the ids.
 */
export function keyedHash(key: string, value: string): string {
  return createHmac('sha256', key).update(value, 'utf8').digest('hex');
}

/**
 * HMAC (RFC 2104) written with the engine's SHA256: SHA256((K ^ opad) || SHA256((K ^ ipad) || m)),
 * K the key padded to SHA-256's 64-byte block (hashed first when longer). ClickHouse has no HMAC
 * function; the two padded keys are bound as hex, never spliced.
 */
export function keyedHashSql(expr: string): string {
  return `lower(hex(SHA256(concat(unhex({hmac_opad:String}), SHA256(concat(unhex({hmac_ipad:String}), ${expr}))))))`;
}

export function keyedHashParams(key: string): { hmac_ipad: string; hmac_opad: string } {
  const raw = Buffer.from(key, 'utf8');
  const block = Buffer.alloc(64);
  (raw.length > 64 ? createHash('sha256').update(raw).digest() : raw).copy(block);
  const pad = (byte: number) => Buffer.from(block.map((b) => b ^ byte)).toString('hex');
  return { hmac_ipad: pad(0x36), hmac_opad: pad(0x5c) };
}

/**
 * The table a mutation addresses: on a cluster each shard's local table, ON CLUSTER (a Distributed
 * table holds no rows to delete), as migrations render their DDL (server/storage/migrate.ts). The
 * names are the configured database's (an identifier) and this codebase's.
 */
export function mutationTarget(database: string, cluster: string | undefined, table: string): string {
  return cluster === undefined ? `\`${database}\`.${table}` : `\`${database}\`.${table}_local ON CLUSTER ${cluster}`;
}

/** Ids named by SQL, for a deletion's condition: `in` follows `column IN`; `array` is an Array(String). */
export interface IdSet {
  in: string;
  array: string;
}

const IDS_TABLE = 'erasure_ids';
const ID_SET: IdSet = { in: `(SELECT id FROM {db:Identifier}.${IDS_TABLE})`, array: `(SELECT groupArray(id) FROM {db:Identifier}.${IDS_TABLE})` };

/**
 * Runs `fn` with `ids` as the rows of erasure_ids (migration 0026), which its conditions name
 * through the IdSet, and empties the table before and after. The engine keeps every mutation's
 * text (system.mutations, mutation_N.txt beside the parts, Keeper's queue on a cluster), so ids
 * bound into a DELETE would stay on disk in plain text; as rows of this table they live only
 * while the erasure runs (a crash leaves them until the next start finishes the erasure, which
 * empties it first). On a cluster the table is on every node: each waits for the rows before the
 * mutations read them.
 */
export async function withIdSet<T>(exec: Executor, ids: readonly string[], ctx: QueryContext, fn: (set: IdSet) => Promise<T>): Promise<T> {
  await clearIdSet(exec, ctx);
  try {
    await exec.insert(IDS_TABLE, ids.map((id) => ({ id })), ctx);
    const cluster = exec.storage.cluster;
    if (cluster !== undefined) await exec.command(`SYSTEM SYNC REPLICA ON CLUSTER ${cluster} \`${exec.database}\`.${IDS_TABLE}`, ctx);
    return await fn(ID_SET);
  } finally {
    await clearIdSet(exec, ctx);
  }
}

function clearIdSet(exec: Executor, ctx: QueryContext): Promise<void> {
  const cluster = exec.storage.cluster;
  return exec.command(`TRUNCATE TABLE \`${exec.database}\`.${IDS_TABLE}${cluster === undefined ? '' : ` ON CLUSTER ${cluster}`}`, ctx);
}

/**
 * Deletes the rows matching `where` for good and returns once the engine applied it on every
 * replica, so that no later read, embedded or on any replica, still sees them. A mutation that
 * rewrites the parts holding them, not a lightweight DELETE: that one only masks rows, which stay
 * in their parts (ids included) until a merge that may never come. The replaced parts leave the
 * disk after the engine's old_parts_lifetime (8 minutes by default). `where` names ids through
 * withIdSet's IdSet, so the subquery makes the mutation one the engine calls nondeterministic.
 * Deleting rows already gone changes nothing: a repeated erasure step is harmless.
 */
export async function deleteRows(exec: Executor, table: string, where: string, ctx: QueryContext): Promise<void> {
  await mutate(exec, table, `DELETE WHERE ${where}`, ctx);
}

/** Sets `assignments` in the rows of `table` where `where` holds, the same way as deleteRows. */
export async function updateRows(exec: Executor, table: string, assignments: string, where: string, ctx: QueryContext): Promise<void> {
  await mutate(exec, table, `UPDATE ${assignments} WHERE ${where}`, ctx);
}

async function mutate(exec: Executor, table: string, action: string, ctx: QueryContext): Promise<void> {
  await exec.command(
    { query: `ALTER TABLE ${mutationTarget(exec.database, exec.storage.cluster, table)} ${action}`, query_params: {} },
    ctx,
    { mutations_sync: '2', allow_nondeterministic_mutations: 1 },
  );
}
