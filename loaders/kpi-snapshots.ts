import { randomUUID } from 'node:crypto';
import type { Executor, QueryContext } from '../server/storage/executor.js';
import { BadInputError } from './errors.js';
import { checkFirst, checkInstant } from './args.js';
import { createLoaders } from './index.js';
import { decodeTimeCursor, encodeTimeCursor, MAX_PAGE } from './cursor.js';
import { latestSnapshotSql, snapshotByIdSql, snapshotPageSql, SNAPSHOTS_TABLE } from './kpi-snapshots.sql.js';
import { KPI_DEFINITIONS_VERSION, runKpiSnapshot, type KpiSnapshotResult, type SnapshotArgs } from './snapshot.js';
import { fromChDateTime, toChDateTime } from './sql.js';
import { snapshotNameProblem } from './snapshot-name.js';

export interface StoredSnapshot {
  id: string;
  name: string;
  createdAt: Date;
  definitionsVersion: number;
  snapshot: KpiSnapshotResult;
}

interface SnapshotRow {
  id: string;
  name: string;
  snapshot: string;
  definitionsVersion: number;
  createdAt: string;
}

const DATE_FIELDS = ['from', 'to', 'asOf', 'generatedAt'] as const;

export function checkSnapshotName(name: string): string {
  const problem = snapshotNameProblem(name);
  if (problem) throw new BadInputError(`"name" ${problem}`, 'name');
  return name;
}

/** Computes kpiSnapshot for the window and stores it under `name`; what is stored is returned as it will be read back. */
export async function takeSnapshot(exec: Executor, ctx: QueryContext, name: string, args: SnapshotArgs, now: () => Date): Promise<StoredSnapshot> {
  const snapshot = await runKpiSnapshot(createLoaders({ exec, requestId: ctx.requestId, signal: ctx.signal }), args, now);
  const stored: StoredSnapshot = { id: randomUUID(), name, createdAt: now(), definitionsVersion: KPI_DEFINITIONS_VERSION, snapshot };
  await exec.insert(
    SNAPSHOTS_TABLE,
    [
      {
        id: stored.id,
        name,
        window_from: toChDateTime(snapshot.from),
        window_to: toChDateTime(snapshot.to),
        grain: snapshot.grain,
        currency: snapshot.currency,
        as_of: toChDateTime(snapshot.asOf),
        customers: snapshot.customers,
        new_customers: snapshot.newCustomers,
        orders: snapshot.orders,
        revenue: snapshot.revenue,
        repeat_purchase_rate: snapshot.repeatPurchaseRate,
        retention_rate: snapshot.retentionRate,
        clv: snapshot.clv,
        nps: snapshot.nps,
        csat: snapshot.csat,
        // JSON keeps every double bit for bit, so the values read back are the ones computed.
        snapshot: JSON.stringify(snapshot),
        definitions_version: stored.definitionsVersion,
        created_at: toChDateTime(stored.createdAt),
      },
    ],
    ctx,
  );
  return stored;
}

/**
 * The `data` of the snapshot.taken event (docs/webhooks.md): the stored snapshot's name, id and
 * window with its key figures; the full snapshot is one latestKpiSnapshot query away.
 */
export function snapshotTakenPayload(stored: StoredSnapshot): Record<string, unknown> {
  const s = stored.snapshot;
  return {
    id: stored.id,
    name: stored.name,
    createdAt: stored.createdAt.toISOString(),
    from: s.from.toISOString(),
    to: s.to.toISOString(),
    asOf: s.asOf.toISOString(),
    grain: s.grain,
    currency: s.currency,
    customers: s.customers,
    newCustomers: s.newCustomers,
    orders: s.orders,
    revenue: s.revenue,
    repeatPurchaseRate: s.repeatPurchaseRate,
    retentionRate: s.retentionRate,
    clv: s.clv,
    nps: s.nps,
    csat: s.csat,
  };
}

function shape(row: SnapshotRow): StoredSnapshot {
  const snapshot = JSON.parse(row.snapshot) as Record<string, unknown>;
  for (const f of DATE_FIELDS) snapshot[f] = new Date(snapshot[f] as string);
  return {
    id: row.id,
    name: row.name,
    createdAt: fromChDateTime(row.createdAt),
    definitionsVersion: row.definitionsVersion,
    snapshot: snapshot as unknown as KpiSnapshotResult,
  };
}

export async function snapshotById(exec: Executor, ctx: QueryContext, id: string): Promise<StoredSnapshot | null> {
  const [row] = await exec.rows<SnapshotRow>(snapshotByIdSql(id), ctx);
  return row ? shape(row) : null;
}

export async function latestSnapshot(exec: Executor, ctx: QueryContext, name: string): Promise<StoredSnapshot | null> {
  const [row] = await exec.rows<SnapshotRow>(latestSnapshotSql(name), ctx);
  return row ? shape(row) : null;
}

export interface SnapshotListArgs {
  name: string;
  from: Date | null;
  to: Date | null;
  first: number;
  after: string | null;
}

export interface SnapshotPage {
  edges: { cursor: string; node: StoredSnapshot }[];
  hasNextPage: boolean;
}

export function checkSnapshotList(a: SnapshotListArgs): SnapshotListArgs {
  checkSnapshotName(a.name);
  checkFirst(a.first, MAX_PAGE);
  if (a.from) checkInstant('from', a.from);
  if (a.to) checkInstant('to', a.to, 'end');
  if (a.from && a.to && !(a.from.getTime() < a.to.getTime())) {
    throw new BadInputError(`"from" (${a.from.toISOString()}) must be earlier than "to" (${a.to.toISOString()})`, 'from');
  }
  return a;
}

export async function listSnapshots(exec: Executor, ctx: QueryContext, a: SnapshotListArgs): Promise<SnapshotPage> {
  const after = a.after === null ? null : decodeTimeCursor(a.after, 'kpiSnapshots');
  const rows = await exec.rows<SnapshotRow>(snapshotPageSql({ name: a.name, from: a.from, to: a.to, after, limit: a.first + 1 }), ctx);
  const nodes = rows.slice(0, a.first).map(shape);
  return { edges: nodes.map((node) => ({ cursor: encodeTimeCursor(node.createdAt, node.id), node })), hasNextPage: rows.length > a.first };
}
