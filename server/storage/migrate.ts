import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Executor } from './executor.js';

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations/', import.meta.url));
const FILE_NAME = /^(\d{4})_[a-z0-9_]+\.sql$/;
const SYSTEM_CTX = { requestId: 'migrate' };

export class MigrationError extends Error {
  override name = 'MigrationError';
}

export interface MigrationFile {
  version: number;
  name: string;
  sql: string;
  checksum: string;
}

export interface RenderTarget {
  database: string;
  cluster: string | undefined;
}

export function readMigrations(dir = MIGRATIONS_DIR): MigrationFile[] {
  const files = readdirSync(dir).filter((f) => f.endsWith('.sql')).sort();
  const seen = new Map<number, string>();
  return files.map((name) => {
    const m = FILE_NAME.exec(name);
    if (!m) throw new MigrationError(`Migration file name "${name}" does not match NNNN_verb_noun.sql`);
    const version = Number(m[1]);
    if (seen.has(version)) throw new MigrationError(`Migrations ${seen.get(version)} and ${name} share version ${version}`);
    seen.set(version, name);
    const sql = readFileSync(join(dir, name), 'utf8');
    return { version, name, sql, checksum: createHash('sha256').update(sql).digest('hex') };
  });
}

/** Statements end with `;` at the end of a line; our migrations keep no semicolons inside literals. */
export function splitStatements(sql: string): string[] {
  return sql
    .split(/;\s*$/m)
    .map((s) => s.replace(/^\s*--(?! cluster:).*$/gm, '').trim())
    .filter((s) => s !== '');
}

const CREATE_TABLE = /^CREATE TABLE IF NOT EXISTS (\$\{db\})\.(\w+)\s*(\([\s\S]*?\))\s*ENGINE\s*=\s*(\w*)MergeTree(?:\(([^)]*)\))?([\s\S]*)$/;
const CREATE_MV = /^CREATE MATERIALIZED VIEW IF NOT EXISTS \$\{db\}\.(\w+) TO \$\{db\}\.(\w+)([\s\S]*)$/;
const SHARD_HINT = /^-- cluster: shard by (.+)$/m;
const EVERY_NODE_HINT = /^-- cluster: every node$/m;

/**
 * Single node: the SQL as written. Cluster: every DDL runs ON CLUSTER; a MergeTree table
 * becomes `<name>_local` with the Replicated engine plus a Distributed `<name>` over it,
 * and materialized views read and write the local tables, so each shard aggregates its
 * own rows (the sharding key keeps a customer's rows on one shard). A table marked
 * `-- cluster: every node` is replicated whole to every node instead (the writer lease). An `INSERT … SELECT`
 * (a backfill) reads and writes the Distributed tables; a TRUNCATE empties the local tables.
 */
export function renderStatement(statement: string, target: RenderTarget): string[] {
  const hint = SHARD_HINT.exec(statement)?.[1]?.trim() ?? 'rand()';
  const everyNode = EVERY_NODE_HINT.test(statement);
  const sql = statement.replace(SHARD_HINT, '').replace(EVERY_NODE_HINT, '').trim();
  const db = target.database;
  const sub = (s: string) => s.replaceAll('${db}', db);
  if (target.cluster === undefined) return [sub(sql)];
  const c = target.cluster;
  const table = CREATE_TABLE.exec(sql);
  if (table && everyNode) {
    // One replica set spanning the whole cluster (a Keeper path without {shard}), so every node
    // reads all rows locally; replica names must then be unique across shards.
    const [, , name, columns, variant, args, rest] = table;
    const params = [`'/clickhouse/tables/all/${db}/${name}'`, `'{shard}-{replica}'`, ...(args ? [args] : [])];
    return [`CREATE TABLE IF NOT EXISTS ${db}.${name} ON CLUSTER ${c} ${columns} ENGINE = Replicated${variant}MergeTree(${params.join(', ')})${sub(rest!)}`];
  }
  if (table) {
    const [, , name, columns, variant, args, rest] = table;
    const params = [`'/clickhouse/tables/{shard}/${db}/${name}_local'`, `'{replica}'`, ...(args ? [args] : [])];
    return [
      `CREATE TABLE IF NOT EXISTS ${db}.${name}_local ON CLUSTER ${c} ${columns} ENGINE = Replicated${variant}MergeTree(${params.join(', ')})${sub(rest!)}`,
      `CREATE TABLE IF NOT EXISTS ${db}.${name} ON CLUSTER ${c} AS ${db}.${name}_local ENGINE = Distributed(${c}, ${db}, ${name}_local, ${hint})`,
    ];
  }
  const mv = CREATE_MV.exec(sql);
  if (mv) {
    const [, name, to, rest] = mv;
    const body = rest!.replace(/\$\{db\}\.(\w+)/g, `${db}.$1_local`);
    return [`CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.${name} ON CLUSTER ${c} TO ${db}.${to}_local${body}`];
  }
  // A backfill runs once, on the node we talk to, over the Distributed tables: each row goes to
  // its shard, and is written there before the migration counts as applied.
  const insert = /^INSERT INTO (\$\{db\}\.\w+)\s/.exec(sql);
  if (insert) return [sub(sql.replace(insert[0], `INSERT INTO ${insert[1]} SETTINGS insert_distributed_sync = 1\n`))];
  // A Distributed table has no data-skipping indexes: they are added to, and built on, the local tables.
  const index = /^ALTER TABLE \$\{db\}\.(\w+)\s+((?:ADD|MATERIALIZE|DROP|CLEAR) INDEX\b[\s\S]*)$/i.exec(sql);
  if (index) return [`ALTER TABLE ${db}.${index[1]}_local ON CLUSTER ${c} ${sub(index[2]!)}`];
  // A new column goes to each shard's local table and to the Distributed table that reads them.
  const column = /^ALTER TABLE \$\{db\}\.(\w+)\s+((?:ADD|DROP|MODIFY) COLUMN\b[\s\S]*)$/i.exec(sql);
  if (column) return [`ALTER TABLE ${db}.${column[1]}_local ON CLUSTER ${c} ${sub(column[2]!)}`, `ALTER TABLE ${db}.${column[1]} ON CLUSTER ${c} ${sub(column[2]!)}`];
  // A Distributed table holds no rows to truncate: each shard empties its local table.
  const truncate = /^TRUNCATE TABLE (IF EXISTS )?\$\{db\}\.(\w+)$/i.exec(sql);
  if (truncate) return [`TRUNCATE TABLE ${truncate[1] ?? ''}${db}.${truncate[2]}_local ON CLUSTER ${c}`];
  const named = /^((?:CREATE|DROP|ALTER|TRUNCATE|RENAME)\s+(?:TABLE|VIEW|DICTIONARY|FUNCTION)(?:\s+IF(?:\s+NOT)?\s+EXISTS)?\s+\$\{db\}\.\w+)/i.exec(sql);
  if (named) return [sub(sql.replace(named[1]!, `${named[1]} ON CLUSTER ${c}`))];
  throw new MigrationError(`Cannot render this statement for a cluster: ${sql.slice(0, 80)}…`);
}

export function renderMigration(file: MigrationFile, target: RenderTarget): string[] {
  return splitStatements(file.sql).flatMap((s) => renderStatement(s, target));
}

const BOOKKEEPING: MigrationFile = {
  version: 0,
  name: 'schema_migrations',
  checksum: '',
  sql: `-- cluster: shard by version
CREATE TABLE IF NOT EXISTS \${db}.schema_migrations (
  version UInt32,
  name String,
  checksum String,
  applied_at DateTime64(3, 'UTC')
) ENGINE = MergeTree ORDER BY version;`,
};

export interface MigrateResult {
  applied: string[];
  alreadyApplied: number;
}

/** Applies pending migrations in order; a no-op when all are applied; refuses edited ones. */
export async function migrate(
  exec: Executor,
  options: { dir?: string; onApply?: (name: string) => void } = {},
): Promise<MigrateResult> {
  const target = { database: exec.database, cluster: exec.storage.cluster };
  for (const s of renderMigration(BOOKKEEPING, target)) await exec.command(s, SYSTEM_CTX);
  const files = readMigrations(options.dir);
  const recorded = await exec.rows<{ version: number; name: string; checksum: string }>(
    { query: 'SELECT version, name, checksum FROM {db:Identifier}.schema_migrations ORDER BY version', query_params: {} },
    SYSTEM_CTX,
  );
  const byVersion = new Map(recorded.map((r) => [r.version, r]));
  for (const f of files) {
    const r = byVersion.get(f.version);
    if (r && r.checksum !== f.checksum) {
      throw new MigrationError(
        `Migration ${f.name} was changed after it was applied (recorded checksum ${r.checksum.slice(0, 12)}…, file now ${f.checksum.slice(0, 12)}…). ` +
          'Applied migrations are never edited: restore the file and add a new migration for the change.',
      );
    }
  }
  const applied: string[] = [];
  for (const f of files.filter((f) => !byVersion.has(f.version))) {
    // A backfill or rebuild reads the whole store: its time grows with the data, not with what a
    // client asked, so the per-query time limit (QUERY_MAX_EXECUTION_TIME) does not apply. A
    // mutation (MATERIALIZE INDEX) is waited for on every replica before the migration counts as applied.
    for (const statement of renderMigration(f, target)) await exec.command(statement, SYSTEM_CTX, { max_execution_time: 0, mutations_sync: '2' });
    await exec.insert(
      'schema_migrations',
      [{ version: f.version, name: f.name, checksum: f.checksum, applied_at: new Date().toISOString() }],
      SYSTEM_CTX,
      { date_time_input_format: 'best_effort' },
    );
    applied.push(f.name);
    options.onApply?.(f.name);
  }
  return { applied, alreadyApplied: files.length - applied.length };
}

/** Ready means every migration on disk is recorded as applied. */
export async function pendingMigrations(exec: Executor, dir?: string): Promise<number> {
  // A store never migrated has no bookkeeping table yet: every migration is pending.
  const [table] = await exec.rows<{ n: number }>(
    { query: "SELECT count() AS n FROM system.tables WHERE database = {name:String} AND name = 'schema_migrations'", query_params: { name: exec.database } },
    SYSTEM_CTX,
  );
  if (!table?.n) return readMigrations(dir).length;
  const recorded = await exec.rows<{ n: number }>(
    { query: 'SELECT count() AS n FROM {db:Identifier}.schema_migrations', query_params: {} },
    SYSTEM_CTX,
  );
  return readMigrations(dir).length - (recorded[0]?.n ?? 0);
}
