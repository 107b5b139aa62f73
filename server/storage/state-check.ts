import { deleteRows, withIdSet } from './erase.js';
import type { Executor, QueryContext } from './executor.js';

/**
 * The pre-aggregated states and the raw tables they are fed from (docs/architecture.md,
 * "Pre-aggregates: consistency and repair"). A materialized view's write is not transactional
 * with its source's: a crash or a storage error between the two leaves the raw rows stored and
 * the state short, and a re-send finds the raw rows and stores nothing. So the states are
 * compared with the raw tables, hash partition by hash partition, and a partition that differs
 * is rebuilt from the raw rows with the view's own query and swapped in atomically.
 *
 * `fingerprint` sums over one row per key, in the state's columns: the view's query over the raw
 * table gives those rows directly, the state gives them under FINAL. Every view part adds at
 * least one order or one event to some key, so a missing or doubled part changes the counts;
 * the other sums catch a part whose rows differ.
 */
export const PRE_AGGREGATES = [
  {
    state: 'customer_activity',
    view: 'customer_activity_mv',
    sources: ['purchases'],
    key: 'customer_id',
    fingerprint: {
      keys: 'count()',
      orders: 'sum(arraySum(s -> s.orders, sales))',
      amount: 'sum(arraySum(s -> s.amount, sales))',
      month_orders: 'sum(arraySum(s -> toUInt64(s.month) * s.orders, sales))',
      currency_orders: 'sum(arraySum(s -> (cityHash64(s.currency) % 65536) * s.orders, sales))',
      months: 'sum(arraySum(m -> toUInt64(m), months))',
      month_entries: 'sum(length(months))',
      instants_ms: 'sum(arraySum(t -> toInt128(toUnixTimestamp64Milli(t)), instants))',
      instant_entries: 'sum(length(instants))',
      first_ms: 'sum(toInt128(toUnixTimestamp64Milli(first_at)))',
      last_ms: 'sum(toInt128(toUnixTimestamp64Milli(last_at)))',
      key_hash: 'sum(toUInt128(cityHash64(customer_id)))',
    },
  },
  {
    state: 'referral_state',
    view: 'referral_state_mv',
    sources: ['referrals'],
    key: 'referral_id',
    fingerprint: {
      keys: 'count()',
      clicked: 'sum(clicked)',
      signed_up: 'sum(signed_up)',
      started_ms: 'sum(toInt128(toUnixTimestamp64Milli(started_at)))',
      last_ms: 'sum(toInt128(toUnixTimestamp64Milli(last_at)))',
      // `referred` by position: the view's tuple has no element names, the state's has.
      referred_none: 'sum(referred.1)',
      referred_ms: 'sum(toInt128(toUnixTimestamp64Milli(referred.2)))',
      referred_hash: 'sum(toUInt128(cityHash64(referred.3)))',
      key_hash: 'sum(toUInt128(cityHash64(referral_id)))',
    },
  },
  {
    // Fed by two views (migration 0014); the plain view refund_orders_source is their union
    // computed from both raw tables, so it stands for "the view's query" here.
    state: 'refund_orders',
    view: 'refund_orders_source',
    sources: ['purchases', 'refunds'],
    key: 'customer_id',
    fingerprint: {
      keys: 'count()',
      key_hash: 'sum(toUInt128(cityHash64(customer_id, currency, order_key)))',
      purchases: 'sum(length(purchases))',
      refunds: 'sum(length(refunds))',
      purchase_hash: 'sum(arraySum(x -> toUInt128(cityHash64(x.1, x.2, x.3)), purchases))',
      refund_hash: 'sum(arraySum(x -> toUInt128(cityHash64(x.1, x.2, x.3)), refunds))',
    },
  },
] as const;

export type PreAggregate = (typeof PRE_AGGREGATES)[number];
export type StateTable = PreAggregate['state'];

/** Hash partitions of every state: `PARTITION BY cityHash64(key) % 8` in migrations 0010, 0011 and 0014. */
export const STATE_PARTITIONS = 8;

const partitionOf = (key: string) => `cityHash64(${key}) % ${STATE_PARTITIONS}`;

export interface PartitionCheck {
  partition: number;
  /** Each fingerprint column as the raw tables and the state give it; equal when the partition is exact. */
  raw: Record<string, string>;
  state: Record<string, string>;
  ok: boolean;
}

export interface StateCheck {
  table: StateTable;
  ok: boolean;
  partitions: PartitionCheck[];
  /** Partitions rebuilt by this run (empty when nothing was asked or nothing differed). */
  repaired: number[];
}

/** On a cluster each shard holds its own states: the procedure is per shard (docs/architecture.md). */
export class StateCheckUnsupportedError extends Error {
  override name = 'StateCheckUnsupportedError';
  constructor(cluster: string) {
    super(`The pre-aggregates of cluster ${cluster} are checked shard by shard (docs/architecture.md, "Pre-aggregates: consistency and repair"), not through the Distributed tables.`);
  }
}

export type RepairMode = 'none' | 'mismatched' | 'all';

/** The view's SELECT as the engine stores it, so a rebuild groups exactly as the view does. */
async function viewQuery(exec: Executor, p: PreAggregate, ctx: QueryContext): Promise<string> {
  const [row] = await exec.rows<{ q: string }>(
    { query: 'SELECT as_select AS q FROM system.tables WHERE database = {db:String} AND name = {view:String}', query_params: { view: p.view } },
    ctx,
  );
  if (!row?.q) throw new Error(`The materialized view ${exec.database}.${p.view} is missing: run the migrations first.`);
  return row.q;
}

async function fingerprints(exec: Executor, p: PreAggregate, from: string, ctx: QueryContext): Promise<Map<number, Record<string, string>>> {
  // Aliases apart from the column names, which an alias would shadow inside the sums.
  const names = Object.keys(p.fingerprint);
  const columns = Object.values(p.fingerprint).map((expr, i) => `toString(${expr}) AS fp_${i}`);
  const rows = await exec.rows<Record<string, string> & { fp_partition: number }>(
    { query: `SELECT toUInt8(${partitionOf(p.key)}) AS fp_partition, ${columns.join(', ')} FROM ${from} GROUP BY fp_partition`, query_params: {} },
    ctx,
  );
  return new Map(rows.map((r) => [r.fp_partition, Object.fromEntries(names.map((name, i) => [name, r[`fp_${i}`]!]))]));
}

/** Compares one state with its raw table, partition by partition. Reads only. */
async function compare(exec: Executor, p: PreAggregate, ctx: QueryContext): Promise<PartitionCheck[]> {
  const raw = await fingerprints(exec, p, `(${await viewQuery(exec, p, ctx)})`, ctx);
  const state = await fingerprints(exec, p, `{db:Identifier}.${p.state} FINAL`, ctx);
  const empty = Object.fromEntries(Object.keys(p.fingerprint).map((k) => [k, k === 'keys' ? '0' : '']));
  return Array.from({ length: STATE_PARTITIONS }, (_, partition) => {
    const r = raw.get(partition) ?? empty;
    const s = state.get(partition) ?? empty;
    return { partition, raw: r, state: s, ok: Object.keys(p.fingerprint).every((k) => r[k] === s[k]) };
  });
}

/** The state's columns in order, quoted, for an INSERT … SELECT from the view's query. */
async function columnList(exec: Executor, p: PreAggregate, ctx: QueryContext): Promise<string> {
  const columns = await exec.rows<{ name: string }>(
    { query: 'SELECT name FROM system.columns WHERE database = {db:String} AND table = {t:String} ORDER BY position', query_params: { t: p.state } },
    ctx,
  );
  return columns.map((c) => `\`${c.name}\``).join(', ');
}

function preAggregate(table: StateTable): PreAggregate {
  return PRE_AGGREGATES.find((a) => a.state === table)!;
}

/**
 * Rebuilds one partition of a state from the raw rows: the view's query fills a staging table of
 * the same structure, engine and constraints, then REPLACE PARTITION swaps it in at once, so
 * readers see the old or the new partition, never a mix. The caller makes sure no raw insert runs
 * meanwhile (EventWriter runs this as an exclusive step), so the result is exact.
 */
export async function rebuildPartition(exec: Executor, table: StateTable, partition: number, ctx: QueryContext): Promise<void> {
  const p = preAggregate(table);
  if (!Number.isInteger(partition) || partition < 0 || partition >= STATE_PARTITIONS) throw new RangeError(`partition ${partition} is not 0..${STATE_PARTITIONS - 1}`);
  // DDL takes no bound identifiers in every position: the names are the configured database's
  // and this registry's, quoted.
  const db = `\`${exec.database}\``;
  const state = `${db}.${p.state}`;
  const staging = `${db}.${p.state}_rebuild`;
  const list = await columnList(exec, p, ctx);
  const query = await viewQuery(exec, p, ctx);
  await exec.command(`DROP TABLE IF EXISTS ${staging}`, ctx);
  await exec.command(`CREATE TABLE ${staging} AS ${state}`, ctx);
  try {
    await exec.command(
      {
        query: `INSERT INTO ${staging} (${list}) SELECT ${list} FROM (${query}) WHERE ${partitionOf(p.key)} = {partition:UInt8}`,
        query_params: { partition },
      },
      ctx,
    );
    const [filled] = await exec.rows<{ n: number }>({ query: `SELECT count() AS n FROM ${staging}`, query_params: {} }, ctx);
    // The engine refuses to replace a partition by an empty one (it would look like a mistake).
    await exec.command(
      filled!.n > 0
        ? `ALTER TABLE ${state} REPLACE PARTITION ${partition} FROM ${staging}`
        : `ALTER TABLE ${state} DROP PARTITION ${partition}`,
      ctx,
    );
  } finally {
    await exec.command(`DROP TABLE IF EXISTS ${staging}`, ctx);
  }
}

/**
 * A cluster view's SELECT (it reads the shard's `<source>_local`) over the Distributed `<source>`
 * instead, so one statement groups the rows of every shard.
 */
export function overDistributed(viewSelect: string, sources: readonly string[]): string {
  return sources.reduce((q, source) => q.replace(new RegExp(`\\b${source}_local\\b`, 'g'), source), viewSelect);
}

/**
 * Rebuilds the rows of some keys of a state after raw rows of theirs were deleted (an erasure):
 * the keys' state rows are deleted, then the view's own query over the raw rows that remain
 * inserts them again, grouped exactly as the view groups; a key without raw rows left keeps no
 * row. A partition rebuild would read a whole eighth of the raw table per partition touched (an
 * erasure of many customers touches all of them); this reads the keys' rows only, through the
 * filter on the grouping key, which the engine pushes below the view's GROUP BY. Repeating it
 * gives the same rows. Readers may see the keys missing between the two statements; the caller
 * runs it as an exclusive step of the writer, so no raw insert interleaves.
 *
 * On a cluster the view's query reads the shard's local table; it is run over the Distributed
 * table instead, so every shard's rows are grouped, and the insert goes through the Distributed
 * state to the shard that holds each key.
 */
export async function rebuildKeys(exec: Executor, table: StateTable, keys: readonly string[], ctx: QueryContext): Promise<void> {
  const p = preAggregate(table);
  if (keys.length === 0) return;
  const cluster = exec.storage.cluster;
  const list = await columnList(exec, p, ctx);
  const view = await viewQuery(exec, p, ctx);
  const query = cluster === undefined ? view : overDistributed(view, p.sources);
  // The keys are customer ids for most states: named through erasure_ids, never as statement text.
  await withIdSet(exec, keys, ctx, async (set) => {
    await deleteRows(exec, p.state, `${p.key} IN ${set.in}`, ctx);
    await exec.command(
      { query: `INSERT INTO {db:Identifier}.${p.state} (${list}) SELECT ${list} FROM (${query}) WHERE ${p.key} IN ${set.in}`, query_params: {} },
      ctx,
      cluster === undefined ? undefined : { insert_distributed_sync: 1 },
    );
  });
}

/**
 * Compares every state with the raw tables; with `repair`, rebuilds the partitions that differ
 * ('mismatched') or all of them ('all'), then compares those again.
 */
export async function checkStates(
  exec: Executor,
  ctx: QueryContext,
  repair: RepairMode = 'none',
  /** Called after each partition rebuilt, also when a later one fails. */
  onRebuilt: (table: StateTable) => void = () => undefined,
): Promise<StateCheck[]> {
  if (exec.storage.cluster !== undefined) throw new StateCheckUnsupportedError(exec.storage.cluster);
  const out: StateCheck[] = [];
  for (const p of PRE_AGGREGATES) {
    let partitions = await compare(exec, p, ctx);
    const todo = repair === 'all' ? partitions.map((x) => x.partition) : repair === 'mismatched' ? partitions.filter((x) => !x.ok).map((x) => x.partition) : [];
    for (const partition of todo) {
      await rebuildPartition(exec, p.state, partition, ctx);
      onRebuilt(p.state);
    }
    if (todo.length > 0) partitions = await compare(exec, p, ctx);
    out.push({ table: p.state, ok: partitions.every((x) => x.ok), partitions, repaired: todo });
  }
  return out;
}
