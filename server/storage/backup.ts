import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import type { Executor, QueryContext } from './executor.js';
import { readMigrations } from './migrate.js';

/**
 * Backup and restore of an embedded store with the engine's own BACKUP/RESTORE
 * (docs/architecture.md, "Backup and restore"). A backup directory holds the engine's backup
 * of the database in `data/` and `manifest.json`, written last: a directory without it is
 * not a backup (an interrupted one).
 */

export const MANIFEST_FILE = 'manifest.json';
const ENGINE_DIR = 'data';
/** Bumped when the layout of a backup directory changes. */
export const BACKUP_FORMAT = 1;
/** Copies made again when a table written outside the writer's queue (snapshots) changed during one. */
const ATTEMPTS = 3;

export interface BackupManifest {
  format: number;
  createdAt: string;
  database: string;
  engineVersion: string;
  /** The highest migration applied, and every applied file: restore refuses a schema it does not know. */
  schema: { level: number; migrations: string[] };
  /**
   * Rows per table. Tables that merge rows (the pre-aggregated states) are counted under FINAL,
   * which does not change as their parts merge, so the restored store can be checked exactly.
   */
  tables: Record<string, number>;
}

export type BackupProblem = 'BAD_TARGET' | 'TARGET_NOT_EMPTY' | 'NOT_A_BACKUP' | 'NEWER_SCHEMA' | 'COUNTS_DIFFER' | 'DAMAGED' | 'CHANGED_DURING_BACKUP';

/**
 * A file a restore writes into DATA_DIR before it begins and removes once the restored store is
 * checked: a service refuses to start while it is there (server/preflight.ts), so a restore that
 * failed half way is never served as a store with some tables missing or short.
 */
export const RESTORE_MARKER = '.restore-unfinished';

/** A backup or restore refused or found wrong, in one sentence for the operator. */
export class BackupError extends Error {
  override name = 'BackupError';
  constructor(
    readonly problem: BackupProblem,
    message: string,
  ) {
    super(message);
  }
}

/** ClickHouse's BACKUP and RESTORE take no query parameters for names; the database name is an identifier checked by the configuration. */
function quoted(name: string): string {
  return `\`${name.replaceAll('\\', '\\\\').replaceAll('`', '\\`')}\``;
}

/** True when `dir` is missing or an empty directory. */
export function isEmptyDir(dir: string): boolean {
  try {
    return readdirSync(dir).length === 0;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return true;
    if (code === 'ENOTDIR') return false;
    throw e;
  }
}

/** Rows per table of the store's database, as the manifest records them. */
export async function countTables(exec: Executor, ctx: QueryContext): Promise<Record<string, number>> {
  const tables = await exec.rows<{ name: string; engine: string }>(
    {
      query: "SELECT name, engine FROM system.tables WHERE database = {db:String} AND engine LIKE '%MergeTree' ORDER BY name",
      query_params: {},
    },
    ctx,
  );
  const counts: Record<string, number> = {};
  for (const t of tables) {
    const final = t.engine === 'MergeTree' ? '' : ' FINAL';
    const [row] = await exec.rows<{ n: number }>({ query: `SELECT count() AS n FROM {db:Identifier}.{t:Identifier}${final}`, query_params: { t: t.name } }, ctx);
    counts[t.name] = row!.n;
  }
  return counts;
}

async function schemaOf(exec: Executor, ctx: QueryContext): Promise<BackupManifest['schema']> {
  const rows = await exec.rows<{ version: number; name: string }>(
    { query: 'SELECT version, name FROM {db:Identifier}.schema_migrations ORDER BY version', query_params: {} },
    ctx,
  );
  return { level: rows.at(-1)?.version ?? 0, migrations: rows.map((r) => r.name) };
}

/** The engine's BACKUP and RESTORE run as long as the store's size needs: QUERY_MAX_EXECUTION_TIME is for KPI queries. */
const UNLIMITED = { max_execution_time: 0 };

/**
 * Copies the store into `dir` (absolute; missing or empty). The caller guarantees that nothing
 * writes events meanwhile: the service runs this in its writer's queue, between two groups, so
 * the copy holds every acknowledged event and no part of a group. Snapshots are stored outside
 * that queue, so a copy during which some table's count changed is made again.
 */
export async function backupStore(exec: Executor, dir: string, ctx: QueryContext): Promise<BackupManifest> {
  if (!isAbsolute(dir)) throw new BackupError('BAD_TARGET', `The backup directory must be an absolute path (got ${JSON.stringify(dir)}).`);
  if (!isEmptyDir(dir)) throw new BackupError('TARGET_NOT_EMPTY', `The backup directory ${dir} is not empty: name a new or empty directory.`);
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new BackupError('BAD_TARGET', `The backup directory ${dir} cannot be created (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}).`);
  }
  const engineDir = join(dir, ENGINE_DIR);
  for (let attempt = 1; ; attempt++) {
    const createdAt = new Date().toISOString();
    const before = await countTables(exec, ctx);
    await exec.rows({ query: `BACKUP DATABASE ${quoted(exec.database)} TO File({path:String})`, query_params: { path: engineDir } }, ctx, UNLIMITED);
    const after = await countTables(exec, ctx);
    if (JSON.stringify(before) === JSON.stringify(after)) {
      const [{ v }] = (await exec.rows<{ v: string }>({ query: 'SELECT version() AS v', query_params: {} }, ctx)) as [{ v: string }];
      const manifest: BackupManifest = { format: BACKUP_FORMAT, createdAt, database: exec.database, engineVersion: v, schema: await schemaOf(exec, ctx), tables: after };
      writeFileSync(join(dir, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
      return manifest;
    }
    rmSync(engineDir, { recursive: true, force: true });
    if (attempt === ATTEMPTS) {
      throw new BackupError('CHANGED_DURING_BACKUP', `Tables kept changing during ${ATTEMPTS} copies (snapshots taken meanwhile?): try again.`);
    }
  }
}

/** The manifest of the backup in `dir`, or why `dir` holds none. */
export function readManifest(dir: string): BackupManifest {
  let text: string;
  try {
    text = readFileSync(join(dir, MANIFEST_FILE), 'utf8');
  } catch {
    throw new BackupError('NOT_A_BACKUP', `${dir} is not a backup: it has no ${MANIFEST_FILE} (an interrupted backup has none either).`);
  }
  try {
    const m = JSON.parse(text) as BackupManifest;
    if (m.format === BACKUP_FORMAT && typeof m.database === 'string' && Number.isInteger(m.schema?.level) && typeof m.tables === 'object') return m;
  } catch {
    // reported below
  }
  throw new BackupError('NOT_A_BACKUP', `${join(dir, MANIFEST_FILE)} is not a backup manifest of format ${BACKUP_FORMAT}.`);
}

/** Refuses a backup whose schema has a migration this code does not have: its tables may not mean what this code reads. */
export function checkSchema(manifest: BackupManifest, dir: string): void {
  const known = readMigrations();
  const names = new Set(known.map((f) => f.name));
  const unknown = manifest.schema.migrations.filter((n) => !names.has(n));
  const newest = known.at(-1);
  if (unknown.length > 0 || manifest.schema.level > (newest?.version ?? 0)) {
    throw new BackupError(
      'NEWER_SCHEMA',
      `The backup in ${dir} has schema level ${manifest.schema.level}${unknown.length > 0 ? ` (${unknown.join(', ')})` : ''}, newer than this service's ${newest?.version ?? 0}: restore it with the service version that made it.`,
    );
  }
}

/**
 * Restores the backup in `dir` into the executor's database, which must hold no table (the
 * caller has checked DATA_DIR is empty and holds it), then checks every table's count against
 * the manifest. Migrations the backup lacks are applied by the next start, as for any store.
 */
export async function restoreStore(exec: Executor, dir: string, manifest: BackupManifest, ctx: QueryContext): Promise<Record<string, number>> {
  await exec.rows(
    { query: `RESTORE DATABASE ${quoted(manifest.database)} AS ${quoted(exec.database)} FROM File({path:String})`, query_params: { path: join(dir, ENGINE_DIR) } },
    ctx,
    UNLIMITED,
  );
  // RESTORE copies the files as they are: a damaged one would restore, with the manifest's row
  // counts (read from the parts' metadata), and fail every query that reads it. Each part's
  // files are checked against the checksums the engine wrote with them.
  const damaged: string[] = [];
  const tables = await exec.rows<{ name: string }>(
    { query: "SELECT name FROM system.tables WHERE database = {db:String} AND engine LIKE '%MergeTree' ORDER BY name", query_params: {} },
    ctx,
  );
  for (const { name } of tables) {
    const parts = await exec.rows<{ part_path: string; is_passed: number; message: string }>(
      { query: `CHECK TABLE ${quoted(exec.database)}.${quoted(name)}`, query_params: {} },
      ctx,
      { ...UNLIMITED, check_query_single_value_result: 0 },
    );
    for (const p of parts) if (!p.is_passed) damaged.push(`${name} part ${p.part_path}: ${p.message.split('\n')[0]}`);
  }
  if (damaged.length > 0) throw new BackupError('DAMAGED', `The backup's files are damaged: ${damaged.join('; ')}.`);
  const counts = await countTables(exec, ctx);
  const names = [...new Set([...Object.keys(manifest.tables), ...Object.keys(counts)])].sort();
  const wrong = names.filter((t) => manifest.tables[t] !== counts[t]);
  if (wrong.length > 0) {
    throw new BackupError(
      'COUNTS_DIFFER',
      `The restored tables differ from the backup's manifest: ${wrong.map((t) => `${t} ${counts[t] ?? 'missing'} rows, manifest ${manifest.tables[t] ?? 'none'}`).join('; ')}.`,
    );
  }
  return counts;
}
