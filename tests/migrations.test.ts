import { appendFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Executor } from '../server/storage/executor.js';
import { MIGRATIONS_DIR, MigrationError, migrate, readMigrations, renderMigration, renderStatement, splitStatements } from '../server/storage/migrate.js';
import { migrationSandbox } from './helpers/migrations.js';

const DATABASE = 't_migrations';
const ctx = { requestId: 'test' };
const onDisk = readdirSync(MIGRATIONS_DIR).filter((f) => f.endsWith('.sql')).sort();

let exec: Executor;
let dir: string;
let close: (() => Promise<void>) | undefined;

beforeAll(async () => {
  ({ exec, dir, close } = await migrationSandbox(DATABASE));
});

afterAll(async () => {
  await close?.();
});

async function recorded() {
  return exec.rows<{ version: number; name: string; checksum: string; applied_at: string }>(
    { query: 'SELECT version, name, checksum, applied_at FROM {db:Identifier}.schema_migrations ORDER BY version', query_params: {} },
    ctx,
  );
}

describe('migration runner on the embedded engine', () => {
  it('applies every migration on a fresh database, in order', async () => {
    const applied: string[] = [];
    const result = await migrate(exec, { dir, onApply: (name) => applied.push(name) });
    expect(result).toEqual({ applied: onDisk, alreadyApplied: 0 });
    expect(applied).toEqual(onDisk);
    const rows = await recorded();
    expect(rows.map((r) => r.name)).toEqual(onDisk);
    expect(rows.map((r) => r.checksum)).toEqual(readMigrations(dir).map((f) => f.checksum));
    const tables = await exec.rows<{ name: string }>(
      { query: 'SELECT name FROM system.tables WHERE database = {db:String} ORDER BY name', query_params: {} },
      ctx,
    );
    expect(tables.map((t) => t.name)).toEqual(expect.arrayContaining(['customers', 'purchases', 'referrals', 'schema_migrations', 'survey_responses']));
  });

  it('applies nothing on a second run and leaves the recorded rows as they were', async () => {
    const before = await recorded();
    const result = await migrate(exec, { dir });
    expect(result).toEqual({ applied: [], alreadyApplied: onDisk.length });
    expect(await recorded()).toEqual(before);
  });

  it('applies only a newly added file', async () => {
    writeFileSync(join(dir, '9999_create_scratch_notes.sql'), 'CREATE TABLE IF NOT EXISTS ${db}.scratch_notes (id UInt32) ENGINE = MergeTree ORDER BY id;\n');
    const result = await migrate(exec, { dir });
    expect(result).toEqual({ applied: ['9999_create_scratch_notes.sql'], alreadyApplied: onDisk.length });
    expect((await recorded()).map((r) => r.name)).toEqual([...onDisk, '9999_create_scratch_notes.sql']);
  });

  it('refuses an applied migration that was edited, naming the file', async () => {
    const edited = onDisk[0]!;
    const before = await recorded();
    appendFileSync(join(dir, edited), '-- an afterthought\n');
    const error = await migrate(exec, { dir }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MigrationError);
    expect((error as Error).message).toMatch(
      new RegExp(`^Migration ${edited.replace('.', '\\.')} was changed after it was applied \\(recorded checksum [0-9a-f]{12}…, file now [0-9a-f]{12}…\\)\\. Applied migrations are never edited: restore the file and add a new migration for the change\\.$`),
    );
    expect(await recorded()).toEqual(before);
  });
});

/** ClickHouse's own parser, normalising the text so the assertions below need not follow our whitespace. */
async function formatted(sql: string): Promise<string> {
  const [row] = await exec.rows<{ f: string }>({ query: 'SELECT formatQuerySingleLine({q:String}) AS f', query_params: { q: sql } }, ctx);
  return row!.f;
}

describe('cluster rendering of every migration file', () => {
  const target = { database: 'kpi', cluster: 'c1' };

  it('renders a TRUNCATE for the local tables, and a single node as written', () => {
    expect(renderStatement('TRUNCATE TABLE IF EXISTS ${db}.customer_activity', target)).toEqual(['TRUNCATE TABLE IF EXISTS kpi.customer_activity_local ON CLUSTER c1']);
    expect(renderStatement('TRUNCATE TABLE ${db}.customer_activity', target)).toEqual(['TRUNCATE TABLE kpi.customer_activity_local ON CLUSTER c1']);
    expect(renderStatement('TRUNCATE TABLE IF EXISTS ${db}.customer_activity', { database: 'kpi', cluster: undefined })).toEqual(['TRUNCATE TABLE IF EXISTS kpi.customer_activity']);
  });

  it('adds and builds a data-skipping index on the local tables, which hold the rows', () => {
    expect(renderStatement('ALTER TABLE ${db}.purchases ADD INDEX IF NOT EXISTS event_id_bloom event_id TYPE bloom_filter(0.0001) GRANULARITY 1', target)).toEqual([
      'ALTER TABLE kpi.purchases_local ON CLUSTER c1 ADD INDEX IF NOT EXISTS event_id_bloom event_id TYPE bloom_filter(0.0001) GRANULARITY 1',
    ]);
    expect(renderStatement('ALTER TABLE ${db}.purchases MATERIALIZE INDEX event_id_bloom', target)).toEqual(['ALTER TABLE kpi.purchases_local ON CLUSTER c1 MATERIALIZE INDEX event_id_bloom']);
  });
  const files = readMigrations();

  it.each(files.map((f) => [f.name, f] as const))('%s renders to statements ClickHouse parses, every DDL ON CLUSTER', async (_name, file) => {
    const rendered = renderMigration(file, target);
    expect(rendered.length).toBeGreaterThan(0);
    for (const statement of rendered) {
      const f = await formatted(statement);
      if (!f.startsWith('INSERT INTO ')) expect(f).toMatch(/ ON CLUSTER c1( |$)/);
      expect(f).not.toContain('${db}');
    }
  });

  it('replicates a table marked "every node" whole to every node, without a Distributed table', async () => {
    const lease = files.find((f) => f.name === '0016_create_writer_lease.sql')!;
    const rendered = renderMigration(lease, target);
    expect(rendered).toHaveLength(1);
    expect(await formatted(rendered[0]!)).toMatch(
      /^CREATE TABLE IF NOT EXISTS kpi\.writer_lease ON CLUSTER c1 \(.*\) ENGINE = ReplicatedReplacingMergeTree\('\/clickhouse\/tables\/all\/kpi\/writer_lease', '\{shard\}-\{replica\}', heartbeat_at\) ORDER BY \(term, holder\) SETTINGS non_replicated_deduplication_window = 1000$/,
    );
  });

  const sharded = files.filter((f) => !/^-- cluster: every node$/m.test(f.sql));
  it.each(sharded.map((f) => [f.name, f] as const))('%s: each table becomes a replicated local table plus a Distributed one', async (_name, file) => {
    const rendered = renderMigration(file, target);
    let i = 0;
    for (const source of splitStatements(file.sql)) {
      const table = /^CREATE TABLE IF NOT EXISTS \$\{db\}\.(\w+)[\s\S]*ENGINE\s*=\s*(\w*)MergeTree/.exec(source.replace(/^-- cluster: .*$/m, '').trim());
      const view = /^CREATE MATERIALIZED VIEW IF NOT EXISTS \$\{db\}\.(\w+)/.exec(source.replace(/^-- cluster: .*$/m, '').trim());
      if (table) {
        const [, name, variant] = table;
        // A table without a named key would be spread by rand(), and per-shard aggregation would split a customer.
        const key = /^-- cluster: shard by (.+)$/m.exec(source)?.[1]?.trim();
        expect(key, `${file.name}: ${name} names its sharding key in a "-- cluster: shard by" line`).toBeDefined();
        const local = await formatted(rendered[i++]!);
        expect(local).toMatch(new RegExp(`^CREATE TABLE IF NOT EXISTS kpi\\.${name}_local ON CLUSTER c1 \\(.*\\) ENGINE = Replicated${variant}MergeTree\\('/clickhouse/tables/\\{shard\\}/kpi/${name}_local', '\\{replica\\}'`));
        const distributed = await formatted(rendered[i++]!);
        expect(distributed).toBe(await formatted(`CREATE TABLE IF NOT EXISTS kpi.${name} ON CLUSTER c1 AS kpi.${name}_local ENGINE = Distributed(c1, kpi, ${name}_local, ${key})`));
      } else if (view) {
        const mv = await formatted(rendered[i++]!);
        expect(mv).toMatch(new RegExp(`^CREATE MATERIALIZED VIEW IF NOT EXISTS kpi\\.${view[1]} ON CLUSTER c1 TO kpi\\.\\w+_local `));
        // Each shard aggregates its own rows: every table the view reads is a local one.
        for (const [, read] of mv.matchAll(/\bkpi\.(\w+)/g)) {
          if (read !== view[1]) expect(read).toMatch(/_local$/);
        }
      } else if (/^ALTER TABLE \$\{db\}\.\w+\s+ADD COLUMN\b/.test(source)) {
        // A column goes to every shard's local table, then to the Distributed table over them.
        const [, name] = /^ALTER TABLE \$\{db\}\.(\w+)/.exec(source)!;
        expect(await formatted(rendered[i++]!)).toMatch(new RegExp(`^ALTER TABLE kpi\\.${name}_local ON CLUSTER c1 \\(ADD COLUMN `));
        expect(await formatted(rendered[i++]!)).toMatch(new RegExp(`^ALTER TABLE kpi\\.${name} ON CLUSTER c1 \\(ADD COLUMN `));
      } else if (/^TRUNCATE /.test(source)) {
        // A Distributed table holds no rows: every shard empties its own local table.
        expect(await formatted(rendered[i++]!)).toMatch(/^TRUNCATE TABLE IF EXISTS kpi\.\w+_local ON CLUSTER c1$/);
      } else if (/^INSERT INTO /.test(source)) {
        // A backfill runs once, over the Distributed tables, and waits for the shards' writes.
        const insert = await formatted(rendered[i++]!);
        expect(insert).toMatch(/^INSERT INTO kpi\.\w+ SETTINGS insert_distributed_sync = 1(, \w+ = \w+)* SELECT /);
        for (const [, table] of insert.matchAll(/\bkpi\.(\w+)/g)) expect(table).not.toMatch(/_local$/);
      } else {
        expect(await formatted(rendered[i++]!)).toMatch(/ ON CLUSTER c1( |$)/);
      }
    }
    expect(i).toBe(rendered.length);
  });
});
