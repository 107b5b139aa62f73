import type { SqlQuery } from '../server/storage/executor.js';
import type { PageCursor } from './cursor.js';
import { Params, T } from './sql.js';

/** The table name for inserts (the executor adds the database); reads go through T.snapshots. */
export const SNAPSHOTS_TABLE = 'kpi_snapshots';
const TABLE = T.snapshots;
const COLUMNS = `id, name, snapshot, definitions_version AS definitionsVersion, created_at AS createdAt`;
/** Newest first; the id breaks ties between snapshots stored in the same millisecond. */
const NEWEST_FIRST = 'ORDER BY created_at DESC, id DESC';

export function snapshotByIdSql(id: string): SqlQuery {
  const p = new Params();
  return p.sql(`SELECT ${COLUMNS} FROM ${TABLE} WHERE id = ${p.add('String', id)} LIMIT 1`);
}

export function latestSnapshotSql(name: string): SqlQuery {
  const p = new Params();
  return p.sql(`SELECT ${COLUMNS} FROM ${TABLE} WHERE name = ${p.add('String', name)} ${NEWEST_FIRST} LIMIT 1`);
}

export interface SnapshotPageArgs {
  name: string;
  from: Date | null;
  to: Date | null;
  after: PageCursor | null;
  /** Rows to read: one more than the page, to learn whether another page follows. */
  limit: number;
}

/** Keyset pagination: the cursor is the last row's (created_at, id), so pages stay stable while snapshots are added. */
export function snapshotPageSql(a: SnapshotPageArgs): SqlQuery {
  const p = new Params();
  const where = [`name = ${p.add('String', a.name)}`];
  if (a.from) where.push(`created_at >= ${p.time(a.from)}`);
  if (a.to) where.push(`created_at < ${p.time(a.to)}`);
  if (a.after) where.push(`(created_at, id) < (${p.time(a.after.at)}, ${p.add('String', a.after.id)})`);
  return p.sql(`SELECT ${COLUMNS} FROM ${TABLE} WHERE ${where.join(' AND ')} ${NEWEST_FIRST} LIMIT ${p.add('UInt32', a.limit)}`);
}
