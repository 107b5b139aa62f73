import { createHash, createHmac } from 'node:crypto';
import { compareVersions } from './client.js';
import type { Executor, QueryContext, SqlQuery } from './executor.js';

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

/**
 * Deletes the rows matching `where` with a lightweight DELETE and returns once the engine applied
 * it on every replica, so that no later read, embedded or on any replica, still sees them. Servers
 * before 24.4 know no `lightweight_deletes_sync` (an unknown setting fails the statement) and
 * wait for a lightweight delete under `mutations_sync`. Deleting rows already gone changes
 * nothing: a repeated erasure step is harmless.
 */
export async function deleteRows(exec: Executor, table: string, where: SqlQuery, ctx: QueryContext): Promise<void> {
  await exec.command(
    { query: `DELETE FROM ${mutationTarget(exec.database, exec.storage.cluster, table)} WHERE ${where.query}`, query_params: where.query_params },
    ctx,
    compareVersions(exec.storage.version, '24.4') < 0 ? { mutations_sync: '2' } : { lightweight_deletes_sync: '2' },
  );
}
