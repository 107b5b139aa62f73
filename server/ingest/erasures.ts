import { randomUUID } from 'node:crypto';
import { BadInputError } from '../../loaders/errors.js';
import { AT_RISK_OF_CUSTOMERS } from '../notifications/at-risk-list.js';
import { DELIVERIES_OF_CUSTOMERS } from '../notifications/outbox.js';
import { deleteRows, keyedHash, keyedHashParams, keyedHashSql, updateRows, withIdSet } from '../storage/erase.js';
import { ErasureKeyMissingError } from '../storage/errors.js';
import { chunkByBytes, type Executor, type QueryContext } from '../storage/executor.js';
import { PRE_AGGREGATES, rebuildKeys, type StateTable } from '../storage/state-check.js';
import { idErrors, TABLE_OF, type StoredEvent, type TableName } from './validate.js';

/**
 * The columns of each raw table that name a customer (spec section 16: a referral event goes with
 * its referrer and with its referred customer). Keyed by every raw table, so a new event table
 * does not compile until it says which of its columns name a customer.
 */
export const CUSTOMER_COLUMNS: Record<TableName, readonly string[]> = {
  purchases: ['customer_id'],
  refunds: ['customer_id'],
  referrals: ['referrer_id', 'referred_customer_id'],
  survey_responses: ['customer_id'],
  customers: ['customer_id'],
  loyalty_events: ['customer_id'],
  touches: ['customer_id'],
};
const RAW_TABLES = Object.keys(CUSTOMER_COLUMNS) as TableName[];

/** Ids one erasure takes: the bench's case (1 000 customers) in one call; more go in several. */
export const MAX_ERASURE_CUSTOMERS = 1_000;
/** The reason a replayed event of an erased customer is rejected with (spec section 16). */
export const CUSTOMER_ERASED = 'customer erased';

export interface Erasure {
  id: string;
  erasedAt: Date;
  /** Distinct customer ids the erasure was asked for. */
  customers: number;
  /** Events it deleted, of every type. */
  events: number;
}

/** Between the durable steps of an erasure; a test stops an erasure there to play a crash. */
export type ErasureStep = 'recorded' | 'deleted';

export interface ErasureOptions {
  /** ERASURE_HMAC_KEY. */
  key: string | undefined;
  now?: () => Date;
  afterStep?: (step: ErasureStep) => Promise<void> | void;
}

interface ErasureRecord extends Erasure {
  customerHashes: string[];
  /** Keyed hashes of the state rows' keys to rebuild, by state table. */
  stateKeys: Partial<Record<StateTable, string[]>>;
}

interface ErasureRow {
  id: string;
  at: number;
  customers: number;
  events: number;
  hashes: string[];
  keys: Record<string, string[]>;
  done: number;
}

/**
 * Recent ids found not erased, so the screen does not hash a customer's id again for each of
 * their events (an HMAC costs about 4 µs, a lookup well under 1). Bounded: emptied when full.
 */
const NOT_ERASED_MAX = 50_000;

const RECORD_COLUMNS = `id, toUnixTimestamp64Milli(erased_at) AS at, customers, events, customer_hashes AS hashes, state_keys AS keys, done`;
const PAGE_MAX = 100;

const toRecord = (r: ErasureRow): ErasureRecord => ({
  id: r.id,
  erasedAt: new Date(r.at),
  customers: r.customers,
  events: r.events,
  customerHashes: r.hashes,
  stateKeys: r.keys as ErasureRecord['stateKeys'],
});
const toErasure = ({ id, erasedAt, customers, events }: ErasureRecord): Erasure => ({ id, erasedAt, customers, events });

/** `c1 IN {ids} OR c2 IN {ids}` over the columns of a raw table that name a customer. */
const namesIn = (table: TableName, ids: string) => CUSTOMER_COLUMNS[table].map((c) => `${c} IN ${ids}`).join(' OR ');
const namesAny = (table: TableName) => namesIn(table, '{ids:Array(String)}');

/** The distinct ids given, each checked like an event's customerId; BAD_USER_INPUT otherwise. */
export function checkCustomerIds(ids: readonly unknown[]): string[] {
  if (ids.length === 0) throw new BadInputError('customerIds is empty: name at least one customer', 'customerIds');
  const unique = [...new Set(ids)];
  if (unique.length > MAX_ERASURE_CUSTOMERS) {
    throw new BadInputError(`At most ${MAX_ERASURE_CUSTOMERS} customers per erasure (got ${unique.length}); erase the others in further calls.`, 'customerIds');
  }
  unique.forEach((id, i) => {
    const errors = idErrors(id, `customerIds[${i}]`);
    if (errors.length > 0) throw new BadInputError(errors.join('; '), 'customerIds');
  });
  return unique as string[];
}

/**
 * Customer erasure (docs/architecture.md, "Erasure"). The caller (EventWriter) runs `erase` and
 * `finishPending` as exclusive steps of its queue, so no insert lands between the delete of a
 * customer's rows and the rebuild of the states they fed, and `rejects` screens every event the
 * writer stores against the erased customers, held in memory as keyed hashes.
 *
 * Each erasure is recorded (hashes, counts, the hashed state keys, done = 0) before anything is
 * deleted; it then deletes the raw rows, rebuilds the state rows of the keys they fed, and records
 * done = 1. Every step can be repeated, so an erasure found unfinished (a crash, a storage error)
 * is finished by running the steps again from its hashes: the engine computes the same HMAC over
 * the stored ids.
 */
export class Erasures {
  /** Keyed hash of each erased customer -> the latest erasure naming them. */
  private readonly erased = new Map<string, { id: string; at: number }>();
  private loading: Promise<void> | undefined;
  /** Never holds an erased id: the service keeps those only as hashes. */
  private readonly notErased = new Set<string>();
  private pending = false;
  private readonly now: () => Date;
  private readonly observers: ((erasure: Erasure) => void)[] = [];

  constructor(
    private readonly exec: Executor,
    private readonly options: ErasureOptions,
  ) {
    this.now = options.now ?? (() => new Date());
  }

  /** Reads the erased customers once per process; the writer calls it before its first group. */
  load(ctx: QueryContext): Promise<void> {
    this.loading ??= this.exec
      .rows<ErasureRow>({ query: `SELECT ${RECORD_COLUMNS} FROM {db:Identifier}.erasures FINAL`, query_params: {} }, ctx)
      .then((rows) => {
        for (const r of rows) this.remember(toRecord(r));
        this.pending = rows.some((r) => r.done === 0);
      })
      .catch((e: unknown) => {
        this.loading = undefined;
        throw e;
      });
    return this.loading;
  }

  /** Subscribes to erasures as they finish, new or resumed (metrics); returns the unsubscribe. */
  observe(fn: (erasure: Erasure) => void): () => void {
    this.observers.push(fn);
    return () => this.observers.splice(this.observers.indexOf(fn), 1);
  }

  /** Some erasure was recorded and not finished: the writer finishes it before it stores anything else. */
  get unfinished(): boolean {
    return this.pending;
  }

  /** Customers were erased and the key their ids were hashed with is not set: no write can be screened. */
  get keyMissing(): boolean {
    return this.erased.size > 0 && this.options.key === undefined;
  }

  /**
   * Whether an event names an erased customer and is dated before their erasure (spec section 16:
   * a replay); a later event is a new relationship. Costs nothing while no customer was ever
   * erased, else one HMAC per named customer not recently found not erased.
   */
  rejects(event: StoredEvent): boolean {
    if (this.erased.size === 0) return false;
    const key = this.key(undefined, 'customers were erased, and their replayed events cannot be recognized without the key they were hashed with');
    // occurred_at is the validator's UTC text, 'YYYY-MM-DD hh:mm:ss.mmm'.
    const at = Date.parse(`${event.row.occurred_at.replace(' ', 'T')}Z`);
    const row = event.row as unknown as Record<string, unknown>;
    return CUSTOMER_COLUMNS[TABLE_OF[event.type]].some((column) => {
      const id = row[column];
      const erasure = typeof id === 'string' ? this.erasureOf(key, id) : undefined;
      return erasure !== undefined && at < erasure.at;
    });
  }

  /**
   * Erases the customers, or answers the latest erasure that covered them all when none of them
   * has an event stored any more (erasing again is a no-op). Returns once the erasure is durable.
   */
  async erase(customerIds: readonly string[], ctx: QueryContext): Promise<Erasure> {
    const key = this.key(ctx.requestId, 'erasing customers needs it');
    const ids = checkCustomerIds(customerIds);
    await this.finishPending(ctx);
    const hashes = ids.map((id) => keyedHash(key, id));
    const events = await this.countEvents(ids, ctx);
    const earlier = hashes.map((h) => this.erased.get(h));
    if (events === 0 && earlier.every((e) => e !== undefined)) {
      const latest = earlier.reduce((a, b) => (b!.at > a!.at ? b : a))!;
      const [row] = await this.exec.rows<ErasureRow>(
        { query: `SELECT ${RECORD_COLUMNS} FROM {db:Identifier}.erasures FINAL WHERE id = {id:String}`, query_params: { id: latest.id } },
        ctx,
      );
      return toErasure(toRecord(row!));
    }
    const keys = await this.stateKeysOf(ids, ctx);
    const record: ErasureRecord = {
      id: randomUUID(),
      erasedAt: this.now(),
      customers: ids.length,
      events,
      customerHashes: hashes,
      stateKeys: Object.fromEntries(Object.entries(keys).map(([table, list]) => [table, list.map((k) => keyedHash(key, k))])),
    };
    await this.record(record, 0, ctx);
    this.remember(record);
    this.pending = true;
    await this.options.afterStep?.('recorded');
    await this.apply(record, ids, keys, ctx);
    this.pending = false;
    return this.finished(record);
  }

  /** Finishes every erasure recorded and not done (after a crash or a failed step), oldest first. */
  async finishPending(ctx: QueryContext): Promise<void> {
    await this.load(ctx);
    if (!this.pending) return;
    const key = this.key(ctx.requestId, 'an unfinished erasure is on record and cannot be finished without it');
    const rows = await this.exec.rows<ErasureRow>(
      { query: `SELECT ${RECORD_COLUMNS} FROM {db:Identifier}.erasures FINAL WHERE done = 0 ORDER BY erased_at, id`, query_params: {} },
      ctx,
    );
    for (const record of rows.map(toRecord)) {
      // Webhook deliveries too: a crash may have come after the raw rows went and before they did.
      const selects = [...RAW_TABLES.flatMap((t) => CUSTOMER_COLUMNS[t].map((c) => `SELECT ${c} AS k FROM {db:Identifier}.${t}`)), DELIVERIES_OF_CUSTOMERS.ids];
      const ids = await this.idsOf(key, selects, record.customerHashes, ctx);
      const keys: Partial<Record<StateTable, string[]>> = {};
      for (const p of PRE_AGGREGATES) {
        // The state still holds the keys whose rebuild did not run; the raw table those still fed.
        const from = [p.state, ...p.sources].map((t) => `SELECT ${p.key} AS k FROM {db:Identifier}.${t}`);
        keys[p.state] = await this.idsOf(key, from, record.stateKeys[p.state] ?? [], ctx);
      }
      await this.apply(record, ids, keys, ctx);
      this.finished(record);
    }
    this.pending = false;
  }

  private finished(record: ErasureRecord): Erasure {
    const erasure = toErasure(record);
    for (const o of this.observers) o(erasure);
    return erasure;
  }

  /**
   * Finished erasures, newest first: `first` of them after the erasure whose id is `after` (the
   * last one of the previous page), so the ids themselves are the cursors.
   */
  async list(first: number, after: string | null, ctx: QueryContext): Promise<Erasure[]> {
    if (!Number.isInteger(first) || first < 1 || first > PAGE_MAX) throw new BadInputError(`"first" must be an integer from 1 to ${PAGE_MAX} (got ${first})`, 'first');
    let from: { at: number; id: string } | undefined;
    if (after !== null) {
      const [row] = await this.exec.rows<ErasureRow>(
        { query: `SELECT ${RECORD_COLUMNS} FROM {db:Identifier}.erasures FINAL WHERE id = {id:String} AND done = 1`, query_params: { id: after } },
        ctx,
      );
      if (!row) throw new BadInputError(`"after" is not the id of an erasure (got ${JSON.stringify(after.slice(0, 64))})`, 'after');
      from = { at: row.at, id: row.id };
    }
    const rows = await this.exec.rows<ErasureRow>(
      {
        query: `SELECT ${RECORD_COLUMNS} FROM {db:Identifier}.erasures FINAL WHERE done = 1
          ${from ? `AND (erased_at, id) < (fromUnixTimestamp64Milli({at:Int64}, 'UTC'), {id:String})` : ''}
          ORDER BY erased_at DESC, id DESC LIMIT {limit:UInt32}`,
        query_params: { limit: first, ...from },
      },
      ctx,
    );
    return rows.map((r) => toErasure(toRecord(r)));
  }

  private erasureOf(key: string, id: string): { id: string; at: number } | undefined {
    if (this.notErased.has(id)) return undefined;
    const erasure = this.erased.get(keyedHash(key, id));
    if (erasure === undefined) {
      if (this.notErased.size >= NOT_ERASED_MAX) this.notErased.clear();
      this.notErased.add(id);
    }
    return erasure;
  }

  private key(requestId: string | undefined, why: string): string {
    if (this.options.key === undefined) throw new ErasureKeyMissingError(requestId, why);
    return this.options.key;
  }

  private remember(r: ErasureRecord): void {
    // Some of the ids just erased may be known as not erased.
    this.notErased.clear();
    const at = r.erasedAt.getTime();
    for (const h of r.customerHashes) {
      const known = this.erased.get(h);
      if (!known || known.at < at) this.erased.set(h, { id: r.id, at });
    }
  }

  /**
   * The raw rows of the customers go, with the webhook deliveries naming them (sent or not: their
   * bodies carry the ids) and their places in the at-risk job's last list, then the state rows
   * they fed are rebuilt from what remains.
   */
  private async apply(record: ErasureRecord, ids: readonly string[], keys: Partial<Record<StateTable, string[]>>, ctx: QueryContext): Promise<void> {
    await withIdSet(this.exec, ids, ctx, async (set) => {
      for (const table of RAW_TABLES) await deleteRows(this.exec, table, namesIn(table, set.in), ctx);
      await deleteRows(this.exec, DELIVERIES_OF_CUSTOMERS.table, DELIVERIES_OF_CUSTOMERS.where(set), ctx);
      await updateRows(this.exec, AT_RISK_OF_CUSTOMERS.table, AT_RISK_OF_CUSTOMERS.assignments(set), AT_RISK_OF_CUSTOMERS.where(set), ctx);
    });
    await this.options.afterStep?.('deleted');
    for (const p of PRE_AGGREGATES) await rebuildKeys(this.exec, p.state, keys[p.state] ?? [], ctx);
    await this.record(record, 1, ctx);
  }

  private async record(r: ErasureRecord, done: 0 | 1, ctx: QueryContext): Promise<void> {
    const row = {
      id: r.id,
      erased_at: r.erasedAt.toISOString().replace('T', ' ').replace('Z', ''),
      customers: r.customers,
      events: r.events,
      customer_hashes: r.customerHashes,
      state_keys: r.stateKeys,
      done,
    };
    // On a cluster the row must be on its shard before the erasure goes on (or is answered).
    await this.exec.insert('erasures', [row], ctx, this.exec.storage.cluster === undefined ? undefined : { insert_distributed_sync: 1 });
  }

  private async countEvents(ids: readonly string[], ctx: QueryContext): Promise<number> {
    let n = 0;
    for (const chunk of chunkByBytes(ids, (id) => id)) {
      const counts = RAW_TABLES.map((t) => `SELECT count() AS n FROM {db:Identifier}.${t} WHERE ${namesAny(t)}`);
      const [row] = await this.exec.rows<{ n: number }>({ query: `SELECT sum(n) AS n FROM (${counts.join(' UNION ALL ')})`, query_params: { ids: chunk } }, ctx);
      n += row!.n;
    }
    return n;
  }

  /** The keys of every state whose rows the customers' raw rows fed, read before they are deleted. */
  private async stateKeysOf(ids: readonly string[], ctx: QueryContext): Promise<Partial<Record<StateTable, string[]>>> {
    const keys: Partial<Record<StateTable, string[]>> = {};
    for (const p of PRE_AGGREGATES) {
      const found = new Set<string>();
      for (const source of p.sources) {
        for (const chunk of chunkByBytes(ids, (id) => id)) {
          const rows = await this.exec.rows<{ k: string }>(
            { query: `SELECT DISTINCT ${p.key} AS k FROM {db:Identifier}.${source} WHERE ${namesAny(source)}`, query_params: { ids: chunk } },
            ctx,
          );
          for (const r of rows) found.add(r.k);
        }
      }
      keys[p.state] = [...found];
    }
    return keys;
  }

  /** The distinct values of the `k` columns of these SELECTs whose keyed hash is one of `hashes`: a whole scan, run only to finish an erasure. */
  private async idsOf(key: string, selects: string[], hashes: readonly string[], ctx: QueryContext): Promise<string[]> {
    const found = new Set<string>();
    for (const chunk of chunkByBytes(hashes, (h) => h)) {
      const rows = await this.exec.rows<{ k: string }>(
        {
          query: `SELECT DISTINCT k FROM (${selects.join(' UNION ALL ')}) WHERE ${keyedHashSql('k')} IN {hashes:Array(String)}`,
          query_params: { hashes: chunk, ...keyedHashParams(key) },
        },
        ctx,
      );
      for (const r of rows) found.add(r.k);
    }
    return [...found];
  }
}
