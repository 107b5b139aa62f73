import { StorageUnavailableError } from '../storage/errors.js';
import { chunkByBytes, OutcomeUnknownError, type Executor, type QueryContext } from '../storage/executor.js';
import { withRetries } from '../storage/retry.js';
import { checkStates, type RepairMode, type StateCheck, type StateTable } from '../storage/state-check.js';
import type { BatchNotifier } from '../notifications/events.js';
import type { AckLog, LoggedGroup, LoggedRow } from './ack-log.js';
import { publishDetractors } from './detractors.js';
import { Erasures, type Erasure } from './erasures.js';
import { loadKeyFilter, type KeyFilter } from './key-filter.js';
import { TABLE_OF, type StoredEvent, type TableName } from './validate.js';

/**
 * Look-ups of more eventIds than this read the tables without their event_id bloom filters:
 * with this many ids nearly every granule's filter matches one of them, and testing them all
 * costs more than it skips. At 10M purchases: 150 ids 20 ms with the filter against 100-150 ms
 * without, 1 000 ids 40 against 90, 3 000 about even, 10 000 ids 190-450 against 100-160.
 */
const BLOOM_MAX_IDS = 2_000;

const RAW_TABLES = [...new Set(Object.values(TABLE_OF))];

/** Most events one group stores: writes that queued up meanwhile are stored together up to this. */
const GROUP_EVENTS = 100_000;

/** With a log: acknowledged events not yet applied, past which new groups wait for the applier. */
const MAX_LOGGED_EVENTS = 200_000;

/** Back-off between attempts to apply the log after a failure: doubling from the first to the last. */
const APPLY_BACKOFF_MS = 500;
const APPLY_BACKOFF_MAX_MS = 30_000;

export type IngestSource = 'http' | 'graphql';

/** What one ingest request came to; rejected lines never reach the writer, so callers report. */
export interface IngestOutcome {
  accepted: number;
  duplicates: number;
  rejected: number;
}

export type IngestObserver = (source: IngestSource, outcome: IngestOutcome) => void;

export interface WriteResult {
  accepted: number;
  /** Positions (in the input array) of events that were duplicates of stored or earlier ones. */
  duplicates: Set<number>;
  /**
   * Positions of events of erased customers dated before their erasure, not stored (spec section
   * 16). Callers screen events with `rejectsErased` first; these are the ones an erasure overtook.
   */
  erased: Set<number>;
}

export type RepairObserver = (table: StateTable, partitions: number) => void;

/** The last comparison of the pre-aggregates with the raw tables (GET /readyz shows it). */
export interface LastStateCheck {
  at: string;
  trigger: StateCheckTrigger;
  ok: boolean;
  ms: number;
  /** Partitions that differed, by state table; rebuilt unless the check only read. */
  mismatched: Partial<Record<StateTable, number[]>>;
  repaired: Partial<Record<StateTable, number[]>>;
}

export type StateCheckTrigger = 'start' | 'after a failed write' | 'verify-state';

/** Why the writer is not fit to take events right now, or undefined when it is. */
export interface WriterHealth {
  problem: string | undefined;
  lastCheck: LastStateCheck | undefined;
}

interface Waiting {
  events: readonly StoredEvent[];
  ctx: QueryContext;
  resolve(result: WriteResult): void;
  reject(error: unknown): void;
}

interface Step {
  run(): Promise<unknown>;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

interface Item {
  /** Index of the write in its group, and of the event in that write. */
  write: number;
  index: number;
  event: StoredEvent;
}

/** A repair that failed (the disk still full, say) is re-tried by readiness probes no more often than this. */
const REPAIR_RETRY_MS = 10_000;

/**
 * Exactly once (docs/architecture.md, "Exactly once"): one writer per process stores one
 * group of writes at a time. For each table it drops eventIds seen earlier in the group or
 * already stored, then inserts the rest. No other write interleaves between the lookup and
 * the insert, so a retried or concurrently sent eventId is never stored twice, the first
 * stored version wins, and everything downstream of the raw tables stays exact.
 *
 * Writes that arrive while a group is being stored wait and form the next group (group
 * commit): one lookup and one insert per table for many requests, in arrival order.
 *
 * The raw rows are exact, but a state fed by a materialized view may miss the part of a failed
 * insert whose raw part was stored ("Pre-aggregates: consistency and repair"). So a failed
 * insert marks the states dirty, and before anything else is written the states are compared
 * with the raw tables and the partitions that differ rebuilt, as an exclusive step: no raw
 * insert runs meanwhile. Until that succeeds, writes are refused with STORAGE_ERROR.
 *
 * Erasures (docs/architecture.md, "Erasure") run as exclusive steps too, and an unfinished one is
 * finished before the next group: no event of an erased customer lands between the delete of
 * their rows and the rebuild of the states, and every group is screened against the erased.
 */
export class EventWriter {
  private readonly waiting: Waiting[] = [];
  private readonly steps: Step[] = [];
  private draining = false;
  private nextSeq: number | undefined;
  private readonly observers: IngestObserver[] = [];
  private readonly repairObservers: RepairObserver[] = [];
  /**
   * Every stored eventId, approximately (key-filter.ts): loaded from the store before this
   * process's first write and kept up by its writes; dropped when this process may not write (another
   * may meanwhile) and when full, and loaded again before the next write.
   */
  private keys: KeyFilter | undefined;
  /** Why the states may be short (set by a failed write, cleared by a check that ends exact). */
  private dirty: string | undefined;
  private running: StateCheckTrigger | undefined;
  private last: LastStateCheck | undefined;
  private lastFailure: string | undefined;
  private lastAttempt = 0;
  /**
   * With a log (options.log): the groups acknowledged and not yet applied to the tables, in order,
   * and their eventIds per table (a re-send meanwhile is a duplicate). `replayed`: read back at
   * start, so some of its rows may have landed before a crash.
   */
  private readonly queue: { group: LoggedGroup; events: number; replayed: boolean }[] = [];
  private readonly pending = new Map<TableName, Set<string>>();
  private ackedSeq = 0;
  private appliedSeq = 0;
  private applying: Promise<void> | undefined;
  /** Why the last attempt to apply the log's groups failed; cleared when one succeeds. */
  private applyFailure: string | undefined;
  private readonly listeners: (() => void)[] = [];
  private closing = false;

  readonly erasures: Erasures;

  /**
   * `checkStates: false` on a cluster, where states are checked shard by shard (docs/architecture.md).
   * `erasures` carries ERASURE_HMAC_KEY; without it, erasing is refused and, once erasures exist,
   * so is every write (replays could not be recognized).
   * `mayWrite` throws when this process must not write (a read replica, or another process holds
   * the writer lease: docs/architecture.md, "One writer"); it is asked before each group.
   * `notifier` queues survey.detractor for newly stored detractor responses (docs/webhooks.md);
   * `onNotifyError` hears when that failed (the events are stored all the same).
   * `log`: acknowledge each group once it is in this durable log, and apply the log to the tables
   * behind the acknowledgements (embedded; docs/architecture.md, "Acknowledged before the
   * views"); its `unapplied` groups, read at open, are applied first. `onApplyError` hears each
   * failed attempt to apply (they are retried).
   */
  constructor(
    private readonly exec: Executor,
    private readonly options: {
      checkStates?: boolean;
      erasures?: Erasures;
      mayWrite?: (requestId: string) => void;
      notifier?: BatchNotifier;
      onNotifyError?: (error: unknown) => void;
      log?: { log: AckLog; unapplied: readonly LoggedGroup[] };
      onApplyError?: (error: unknown) => void;
      /** The first back-off after a failed apply (APPLY_BACKOFF_MS unless given: tests). */
      applyBackoffMs?: number;
    } = {},
  ) {
    this.erasures = options.erasures ?? new Erasures(exec, { key: undefined });
    const unapplied = options.log?.unapplied ?? [];
    for (const group of unapplied) this.enqueue(group, true);
    this.appliedSeq = unapplied.length > 0 ? unapplied[0]!.seq - 1 : 0;
    this.kick();
  }

  /** Erases customers between two groups of writes (spec section 16); answers once it is durable. */
  erase(customerIds: readonly string[], ctx: QueryContext): Promise<Erasure> {
    const refused = this.refusal(ctx.requestId);
    if (refused !== undefined) return Promise.reject(refused);
    return this.exclusive(async () => {
      const erasure = await this.erasures.erase(customerIds, ctx);
      await this.forgetLogged();
      return erasure;
    });
  }

  /**
   * After an erasure, between two groups (every logged group applied): the ingest log drops
   * the groups it holds, so the erased customers' events no longer stand in it in plain text.
   */
  private async forgetLogged(): Promise<void> {
    await this.options.log?.log.dropApplied();
  }

  /**
   * Loads the filter of stored eventIds anew, between two groups: the service calls it as it
   * becomes the writer (at start, or taking the lease over from a writer that may have written
   * since), so no request waits for the load (seconds at tens of millions of events).
   */
  loadKeys(ctx: QueryContext): Promise<void> {
    return this.exclusive(async () => {
      this.keys = await this.loadKeyFilter(ctx);
    });
  }

  /** Finishes an erasure a crash left unfinished; the writing process calls it before it takes writes. */
  finishErasures(ctx: QueryContext): Promise<void> {
    return this.exclusive(async () => {
      await this.erasures.finishPending(ctx);
      await this.forgetLogged();
    });
  }

  /**
   * The screen callers apply while validating, so a replayed event of an erased customer is
   * rejected on its own line; the writer applies it again to every group it stores.
   */
  rejectsErased(event: StoredEvent): boolean {
    return this.erasures.rejects(event);
  }

  /** Subscribes to state repairs (metrics): the table and how many partitions were rebuilt. */
  observeRepairs(fn: RepairObserver): () => void {
    this.repairObservers.push(fn);
    return () => this.repairObservers.splice(this.repairObservers.indexOf(fn), 1);
  }

  /** Why every write is refused now, when it is (shown by /readyz): customers were erased and the key is missing. */
  writesRefused(): string | undefined {
    return this.erasures.keyMissing
      ? 'customers were erased and ERASURE_HMAC_KEY is not set: writes are refused until it is set to the key their ids were hashed with'
      : undefined;
  }

  health(): WriterHealth {
    const problem = this.applyFailure
      ? `${this.pendingEvents} acknowledged events wait in the ingest log to be stored: ${this.applyFailure}; retrying`
      : this.erasures.unfinished
      ? 'an erasure was recorded and not finished; it is finished before the next write'
      : this.running
      ? `repair running: comparing the pre-aggregated states with the raw tables (${this.running})`
      : this.dirty
        ? `${this.dirty}; ${this.lastFailure ? `the repair of the pre-aggregated states failed: ${this.lastFailure}` : 'the pre-aggregated states are repaired before the next write'}`
        : undefined;
    return { problem, lastCheck: this.last };
  }

  /**
   * Compares every pre-aggregate with the raw tables and rebuilds as asked, between two groups
   * of writes. A check that finds nothing to repair or repairs everything clears the dirty mark.
   */
  verifyStates(repair: RepairMode, trigger: StateCheckTrigger, ctx: QueryContext): Promise<StateCheck[]> {
    return this.exclusive(async () => {
      // Rebuilding a partition writes: only the process that ingests may do it.
      if (repair !== 'none') this.options.mayWrite?.(ctx.requestId);
      return this.runCheck(repair, trigger, ctx);
    });
  }

  /**
   * Re-tries a pending repair, and an unfinished erasure, when nothing is queued (GET /readyz
   * calls it), so the service recovers once space is freed even if no client writes; at most
   * every REPAIR_RETRY_MS.
   */
  retryRepair(): void {
    if ((!this.dirty && !this.erasures.unfinished) || this.draining || Date.now() - this.lastAttempt < REPAIR_RETRY_MS) return;
    this.lastAttempt = Date.now();
    const ctx = { requestId: 'state-repair' };
    void this.exclusive(async () => {
      this.options.mayWrite?.(ctx.requestId);
      if (this.dirty) await this.runCheck('mismatched', 'after a failed write', ctx);
      await this.erasures.finishPending(ctx);
    }).catch(() => undefined);
  }

  private markDirty(reason: string): void {
    if (this.options.checkStates !== false) this.dirty ??= reason;
  }

  /**
   * Runs `run` alone, between two groups of writes: every write answered before it is stored,
   * none starts until it ends (the state repair, a backup's cut).
   */
  exclusive<T>(run: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.steps.push({ run, resolve: resolve as (v: unknown) => void, reject });
      if (!this.draining) void this.drain();
    });
  }

  private async runCheck(repair: RepairMode, trigger: StateCheckTrigger, ctx: QueryContext): Promise<StateCheck[]> {
    const started = performance.now();
    this.running = trigger;
    try {
      const checks = await checkStates(this.exec, ctx, repair, (table) => {
        for (const o of this.repairObservers) o(table, 1);
      });
      const byTable = (pick: (c: StateCheck) => number[]) =>
        Object.fromEntries(checks.map((c) => [c.table, pick(c)]).filter(([, list]) => (list as number[]).length > 0));
      this.last = {
        at: new Date().toISOString(),
        trigger,
        ok: checks.every((c) => c.ok),
        ms: Math.round(performance.now() - started),
        mismatched: byTable((c) => (repair === 'none' ? c.partitions.filter((x) => !x.ok).map((x) => x.partition) : c.repaired)),
        repaired: byTable((c) => c.repaired),
      };
      if (this.last.ok) {
        this.dirty = undefined;
        this.lastFailure = undefined;
      }
      return checks;
    } catch (e) {
      this.lastFailure = (e as Error).message;
      this.markDirty(`a check of the pre-aggregated states (${trigger}) could not run`);
      throw e;
    } finally {
      this.running = undefined;
    }
  }

  /** Subscribes to every ingest request's outcome (metrics); returns the unsubscribe. */
  observe(fn: IngestObserver): () => void {
    this.observers.push(fn);
    return () => this.observers.splice(this.observers.indexOf(fn), 1);
  }

  report(source: IngestSource, outcome: IngestOutcome): void {
    for (const o of this.observers) o(source, outcome);
  }

  write(events: readonly StoredEvent[], ctx: QueryContext): Promise<WriteResult> {
    const refused = this.refusal(ctx.requestId);
    if (refused !== undefined) return Promise.reject(refused);
    if (events.length === 0) return Promise.resolve({ accepted: 0, duplicates: new Set(), erased: new Set() });
    return new Promise((resolve, reject) => {
      this.waiting.push({ events, ctx, resolve, reject });
      if (!this.draining) void this.drain();
    });
  }

  /** Throws the error to answer when this process may not write now; callers ask before reading a body. */
  assertMayWrite(requestId: string): void {
    this.options.mayWrite?.(requestId);
  }

  /** Why this process may not write now (the error to answer), or undefined. */
  private refusal(requestId: string): unknown {
    try {
      this.options.mayWrite?.(requestId);
      return undefined;
    } catch (e) {
      return e;
    }
  }

  private async drain(): Promise<void> {
    this.draining = true;
    while (this.waiting.length > 0 || this.steps.length > 0) {
      const step = this.steps.shift();
      if (step) {
        // A step sees the tables with every acknowledged group in them.
        await this.settled('exclusive step').then(step.run).then(step.resolve, step.reject);
        continue;
      }
      // With a log, the applier repairs the states itself before it inserts again.
      if (this.dirty && this.options.checkStates !== false && !this.options.log) {
        try {
          await this.runCheck('mismatched', 'after a failed write', { requestId: this.waiting[0]!.ctx.requestId });
        } catch {
          // The store still fails (a full disk, say): refuse what waits rather than store raw
          // rows whose states could not be made exact; clients re-send later.
          for (const w of this.waiting.splice(0)) w.reject(new StorageUnavailableError(w.ctx.requestId));
          continue;
        }
      }
      // Asked again as each group starts: the lease may have lapsed while the writes queued.
      if (this.refusal(this.waiting[0]!.ctx.requestId) !== undefined) {
        this.keys = undefined;
        for (const w of this.waiting.splice(0)) w.reject(this.refusal(w.ctx.requestId));
        continue;
      }
      let events = this.waiting[0]!.events.length;
      let n = 1;
      while (n < this.waiting.length && events + this.waiting[n]!.events.length <= GROUP_EVENTS) events += this.waiting[n++]!.events.length;
      const group = this.waiting.splice(0, n);
      let results: WriteResult[];
      try {
        // Nothing is written before a recorded erasure is finished, nor without the erased screen.
        results = await this.screen(group);
      } catch (e) {
        for (const w of group) w.reject(e);
        continue;
      }
      try {
        const stored = await this.writeGroup(group, results);
        // Stored and durable: a failed notification must neither undo nor fail the write.
        if (this.options.notifier) await publishDetractors(this.options.notifier, stored, { requestId: group[0]!.ctx.requestId }).catch((e: unknown) => this.options.onNotifyError?.(e));
        group.forEach((w, i) => w.resolve(results[i]!));
      } catch (e) {
        // Nobody in the group got an answer, so any part of it that was stored is re-sent
        // by its clients and found by the lookup: still exactly once for the raw rows. A view's
        // part may be missing though, so the states are repaired now, before the group is
        // answered: a client (or probe) that saw the failure sees the repair's outcome too.
        // With a log, nothing was inserted here: the look-up or the log's write failed.
        if (!this.options.log) {
          this.markDirty(`a write failed (request ${group[0]!.ctx.requestId})`);
          if (this.options.checkStates !== false) await this.runCheck('mismatched', 'after a failed write', { requestId: group[0]!.ctx.requestId }).catch(() => undefined);
        }
        for (const w of group) w.reject(e);
      }
    }
    this.draining = false;
  }

  /** The group's results with the events of erased customers marked; finishes an unfinished erasure first. */
  private async screen(group: Waiting[]): Promise<WriteResult[]> {
    const ctx = { requestId: group[0]!.ctx.requestId, urgent: true };
    await this.erasures.finishPending(ctx);
    return group.map((w): WriteResult => {
      const erased = new Set<number>();
      w.events.forEach((event, i) => this.erasures.rejects(event) && erased.add(i));
      return { accepted: 0, duplicates: new Set(), erased };
    });
  }

  /**
   * Stores the group's new events and returns them (duplicates and erased ones left out): in the
   * tables, or with a log, in the log (then applied behind the acknowledgement).
   */
  private async writeGroup(group: Waiting[], results: WriteResult[]): Promise<StoredEvent[]> {
    // One statement serves several requests: it carries the first one's id, and no abort
    // signal, since one client leaving must not cancel the others' events. Urgent: embedded,
    // it runs before the KPI reads waiting for the session (Executor, QueryContext.urgent).
    const ctx: QueryContext = { requestId: group[0]!.ctx.requestId, urgent: true };
    const { rowsOf, inserted } = await this.newRows(group, results, ctx);
    const log = this.options.log?.log;
    if (log) {
      // Back-pressure: the log holds at most this many events not yet applied.
      while (this.pendingEvents >= MAX_LOGGED_EVENTS) {
        if (this.applyFailure !== undefined) throw new StorageUnavailableError(ctx.requestId);
        await this.progress();
      }
      const rows = Object.fromEntries([...rowsOf].filter(([, list]) => list.length > 0));
      if (Object.keys(rows).length > 0) this.enqueue(await log.append(rows), false);
      this.kick();
    } else for (const [table, rows] of rowsOf) await this.insert(table, rows, ctx);
    return inserted;
  }

  /** The group's rows to store per table, eventIds seen earlier, stored or waiting in the log left out, and their events. */
  private async newRows(group: Waiting[], results: WriteResult[], ctx: QueryContext): Promise<{ rowsOf: Map<TableName, LoggedRow[]>; inserted: StoredEvent[] }> {
    const byTable = new Map<TableName, Item[]>();
    group.forEach((w, write) =>
      w.events.forEach((event, index) => {
        if (results[write]!.erased.has(index)) return;
        const table = TABLE_OF[event.type];
        let list = byTable.get(table);
        if (!list) byTable.set(table, (list = []));
        list.push({ write, index, event });
      }),
    );
    const fresh = new Map<TableName, Item[]>();
    for (const [table, list] of byTable) {
      const seen = new Set<string>();
      const items: Item[] = [];
      const waiting = this.pending.get(table);
      for (const item of list) {
        if (seen.has(item.event.row.event_id) || waiting?.has(item.event.row.event_id)) results[item.write]!.duplicates.add(item.index);
        else {
          seen.add(item.event.row.event_id);
          items.push(item);
        }
      }
      fresh.set(table, items);
    }
    // Only the ids the filter may hold can be stored already; the raw tables answer for those.
    // Each key goes into the filter as it is tested, before any row is inserted: an insert that
    // fails after storing part of the rows leaves keys of rows that never landed (one needless
    // look-up each), never a stored row whose re-send the filter would let through.
    const keys = this.keys ?? (this.keys = await this.loadKeyFilter(ctx));
    const maybe = [...fresh].map(([table, items]) => [table, items.map((i) => i.event.row.event_id).filter((id) => keys.mayHoldThenAdd(table, id))] as const);
    const stored = await this.storedIds(new Map(maybe), ctx);
    const inserted: StoredEvent[] = [];
    const rowsOf = new Map<TableName, LoggedRow[]>();
    for (const [table, items] of fresh) {
      const rows: LoggedRow[] = [];
      const firstSeq = table === 'customers' ? await this.reserveSeq(items.length, ctx) : 0;
      for (const item of items) {
        if (stored.has(`${table}\n${item.event.row.event_id}`)) results[item.write]!.duplicates.add(item.index);
        else {
          const row: LoggedRow = table === 'customers' ? { ...item.event.row, received_seq: firstSeq + rows.length } : { ...item.event.row };
          rows.push(row);
          inserted.push(item.event);
          results[item.write]!.accepted++;
        }
      }
      rowsOf.set(table, rows);
    }
    if (keys.full) this.keys = undefined;
    return { rowsOf, inserted };
  }

  /**
   * The filter of stored eventIds, read from the tables once every logged group is in them: a
   * group applied while the filter was read could otherwise be in neither the filter nor the log.
   */
  private async loadKeyFilter(ctx: QueryContext): Promise<KeyFilter> {
    await this.settled(ctx.requestId);
    return loadKeyFilter(this.exec, RAW_TABLES, ctx);
  }

  /** Queues a logged group to apply and counts its eventIds as pending. */
  private enqueue(group: LoggedGroup, replayed: boolean): void {
    let events = 0;
    for (const [table, rows] of Object.entries(group.rows) as [TableName, LoggedRow[]][]) {
      let ids = this.pending.get(table);
      if (!ids) this.pending.set(table, (ids = new Set()));
      for (const row of rows) ids.add(row.event_id);
      events += rows.length;
    }
    this.queue.push({ group, events, replayed });
    this.ackedSeq = group.seq;
  }

  /** Events acknowledged from the log and not yet in the tables. */
  get pendingEvents(): number {
    return this.queue.reduce((n, q) => n + q.events, 0);
  }

  /** Groups acknowledged from the log so far (0 without a log, where a group is acknowledged once inserted). */
  get acknowledged(): number {
    return this.ackedSeq;
  }

  /** Starts the applier unless it runs or has nothing to do. */
  private kick(): void {
    if (this.applying || this.queue.length === 0 || this.closing) return;
    this.applying = this.applyQueue().finally(() => {
      this.applying = undefined;
      this.notify();
    });
  }

  /**
   * Applies the logged groups in order, several at a time (up to GROUP_EVENTS rows), and marks
   * them applied. A failed attempt is retried after a back-off, its states repaired first; it and
   * every replayed group first look up which of their rows landed (an insert that failed may have
   * stored part of them), so each row is stored once.
   */
  private async applyQueue(): Promise<void> {
    const ctx: QueryContext = { requestId: 'ingest-log', urgent: true, behind: true };
    let failures = 0;
    while (this.queue.length > 0 && !(this.closing && failures > 0)) {
      let n = 1;
      let events = this.queue[0]!.events;
      while (n < this.queue.length && events + this.queue[n]!.events <= GROUP_EVENTS) events += this.queue[n++]!.events;
      const batch = this.queue.slice(0, n);
      try {
        await this.applyGroups(batch.map((b) => b.group), failures > 0 || batch.some((b) => b.replayed), ctx);
      } catch (e) {
        failures++;
        this.applyFailure = (e as Error).message;
        this.markDirty('an insert of the ingest log failed');
        this.options.onApplyError?.(e);
        this.notify();
        if (this.closing) break;
        // Unref'd: a stopped service does not stay up for the next attempt.
        await new Promise((resolve) => setTimeout(resolve, Math.min(APPLY_BACKOFF_MAX_MS, (this.options.applyBackoffMs ?? APPLY_BACKOFF_MS) * 2 ** Math.min(failures - 1, 10))).unref());
        if (this.closing) break;
        if (this.dirty && this.options.checkStates !== false) await this.runCheck('mismatched', 'after a failed write', ctx).catch(() => undefined);
        continue;
      }
      failures = 0;
      this.applyFailure = undefined;
      this.queue.splice(0, n);
      for (const { group } of batch) {
        for (const [table, rows] of Object.entries(group.rows) as [TableName, LoggedRow[]][]) {
          const ids = this.pending.get(table);
          for (const row of rows) ids?.delete(row.event_id);
        }
      }
      this.appliedSeq = batch[batch.length - 1]!.group.seq;
      // A mark that did not reach the file only makes the next start look the group's rows up.
      await this.options.log!.log.applied(batch.map((b) => b.group.seq)).catch(() => undefined);
      this.notify();
    }
  }

  private async applyGroups(groups: readonly LoggedGroup[], lookUp: boolean, ctx: QueryContext): Promise<void> {
    const byTable = new Map<TableName, LoggedRow[]>();
    for (const group of groups) {
      for (const [table, rows] of Object.entries(group.rows) as [TableName, LoggedRow[]][]) {
        const list = byTable.get(table);
        if (list) list.push(...rows);
        else byTable.set(table, [...rows]);
      }
    }
    const landed = lookUp ? await this.storedIds(new Map([...byTable].map(([t, rows]) => [t, rows.map((r) => r.event_id)])), ctx) : new Set<string>();
    for (const [table, rows] of byTable) await this.insert(table, rows.filter((r) => !landed.has(`${table}\n${r.event_id}`)), ctx);
  }

  /**
   * Resolves once every event acknowledged before the read (before its request began, with
   * `ctx.since`) is in the tables, so a read sees every write answered before it; rejects while
   * the log cannot be applied. Undefined when
   * nothing is to wait for (always without a log). The executor asks it before each read
   * (Executor.readBarrier).
   */
  visible(ctx: QueryContext): Promise<void> | undefined {
    // A request that fixed its target when it began (QueryContext.since) waits for that; any
    // other read for every group acknowledged before it.
    const target = ctx.since ?? this.ackedSeq;
    if (this.appliedSeq >= target) return undefined;
    return (async () => {
      while (this.appliedSeq < target) {
        if (this.applyFailure !== undefined) throw new StorageUnavailableError(ctx.requestId);
        await this.progress();
      }
    })();
  }

  /** Resolves once no logged group waits; throws while they cannot be applied. */
  private async settled(requestId: string): Promise<void> {
    while (this.queue.length > 0) {
      if (this.applyFailure !== undefined) throw new StorageUnavailableError(requestId);
      this.kick();
      await this.progress();
    }
  }

  /** Resolves at the applier's next step (a batch applied or failed, or the applier stopped). */
  private progress(): Promise<void> {
    return new Promise((resolve) => this.listeners.push(resolve));
  }

  private notify(): void {
    for (const resolve of this.listeners.splice(0)) resolve();
  }

  /**
   * Applies what the log holds, then stops applying (the service stops). Groups that cannot be
   * applied now stay in the log for the next start; health() then names them.
   */
  async close(): Promise<void> {
    await this.settled('stop').catch(() => undefined);
    this.closing = true;
    // A failing applier sleeps before its next attempt and stops when it wakes.
    if (this.applyFailure === undefined) await this.applying;
    await this.options.log?.log.close();
  }

  /**
   * A connection lost during an insert leaves its outcome unknown: part of it, all of it or
   * nothing may be stored, and the server may still be storing it. So instead of sending the
   * same rows again, wait until the statement is over, look up which rows landed and insert
   * only the others (the writer still runs alone, so nobody else stored them meanwhile).
   */
  private async insert(table: TableName, rows: { event_id: string }[], ctx: QueryContext): Promise<void> {
    let lost: OutcomeUnknownError | undefined;
    await withRetries(
      async () => {
        if (lost) {
          await this.exec.settle(lost.queryId, ctx);
          const landed = await this.storedIds(new Map([[table, rows.map((r) => r.event_id)]]), ctx);
          rows = rows.filter((r) => !landed.has(`${table}\n${r.event_id}`));
        }
        if (rows.length === 0) return;
        try {
          await this.exec.insert(table, rows, ctx);
        } catch (e) {
          // Even when a retry stores the rest, the lost statement's view part may be missing.
          this.markDirty(`an insert into ${table} failed (request ${ctx.requestId})`);
          throw e;
        }
      },
      {
        retries: this.exec.maxRetries,
        isRetryable: (e) => e instanceof OutcomeUnknownError,
        onRetry: (e) => {
          lost = e as OutcomeUnknownError;
        },
      },
    );
  }

  /**
   * Which of these eventIds their tables hold, as `table\neventId` keys (storedIdsSql), in one
   * statement for all tables, split only when the ids pass PARAM_CHUNK_BYTES.
   */
  private async storedIds(idsByTable: Map<TableName, string[]>, ctx: QueryContext): Promise<Set<string>> {
    const found = new Set<string>();
    const pairs = [...idsByTable].flatMap(([table, ids]) => ids.map((id) => [table, id] as const));
    for (const chunk of chunkByBytes(pairs, ([, id]) => id)) {
      const byTable = new Map<TableName, string[]>();
      for (const [table, id] of chunk) {
        let list = byTable.get(table);
        if (!list) byTable.set(table, (list = []));
        list.push(id);
      }
      const tables = [...byTable.keys()];
      const rows = await this.exec.rowsWithLists<{ t: string; event_id: string }>(
        tables.map((t) => byTable.get(t)!),
        (list) => storedIdsSql(tables, list),
        ctx,
        chunk.length > BLOOM_MAX_IDS ? { use_skip_indexes: 0 } : undefined,
      );
      for (const r of rows) found.add(`${r.t}\n${r.event_id}`);
    }
    return found;
  }

  /** `n` consecutive receive-order numbers for profile versions, above anything stored by earlier processes. */
  private async reserveSeq(n: number, ctx: QueryContext): Promise<number> {
    if (this.nextSeq === undefined) {
      const [row] = await this.exec.rows<{ m: number }>({ query: 'SELECT max(received_seq) AS m FROM {db:Identifier}.customers', query_params: {} }, ctx);
      this.nextSeq = Math.max((row?.m ?? 0) + 1, Date.now() * 1000);
    }
    const first = this.nextSeq;
    this.nextSeq += n;
    return first;
  }
}

/**
 * Which of the ids each table holds: `t`, the table, and `event_id`, where `list(i)` is the set of
 * ids to look for in the i-th table (Executor.rowsWithLists: embedded, the look-up then runs beside
 * the KPI statements instead of after the one running). By event_id alone: a retry may differ in
 * every other column (the first stored version wins), so no sort-key prefix can narrow the search.
 * Each table's event_id bloom filter (migration 0024) skips the granules that hold none of the
 * ids, so the cost follows the batch rather than the store. Table names come from the closed
 * TableName set.
 */
export function storedIdsSql(tables: readonly TableName[], list: (i: number) => string): string {
  return tables.map((table, i) => `SELECT '${table}' AS t, event_id FROM {db:Identifier}.${table} WHERE event_id IN ${list(i)}`).join(' UNION ALL ');
}
