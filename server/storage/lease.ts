import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { NotLeaseHolderError } from './errors.js';
import type { Executor, QueryContext } from './executor.js';

/** Time as the lease sees it; the service passes its clock (server/snapshots/scheduler.ts), tests a fake one. */
export interface LeaseClock {
  now(): Date;
  /** Calls `fn` after `ms`; returns a cancel function. */
  setTimer(ms: number, fn: () => void): () => void;
}

/** Who a process is, as other processes read it in the lease table. */
export interface LeaseIdentity {
  /** Unique per process start: host, pid, start time and a random part. */
  id: string;
  host: string;
  pid: number;
  startedAt: Date;
}

/** The row that holds a term: its latest heartbeat. */
export interface LeaseRow {
  term: number;
  holder: string;
  host: string;
  pid: number;
  startedAt: Date;
  heartbeatAt: Date;
  expiresAt: Date;
}

export interface LeaseOptions {
  ttlMs: number;
  renewMs: number;
  clock: LeaseClock;
  identity?: LeaseIdentity;
  /** On a cluster the table is replicated to every node: a claim syncs the local replica before it reads. */
  replicated: boolean;
}

const CTX: QueryContext = { requestId: 'writer-lease' };

export function processIdentity(startedAt: Date): LeaseIdentity {
  const host = hostname();
  return { id: `${host}/${process.pid}/${startedAt.toISOString()}/${randomBytes(4).toString('hex')}`, host, pid: process.pid, startedAt };
}

/** `pid 123 on host-a (started …, heartbeat …, lease until …)`: the holder, as an error names it. */
export function describeHolder(row: LeaseRow): string {
  return `pid ${row.pid} on ${row.host} (holder ${row.holder}, term ${row.term}, last heartbeat ${row.heartbeatAt.toISOString()}, lease until ${row.expiresAt.toISOString()})`;
}

/**
 * The holder of the highest term. Two rows of one term exist only if a claim missed the
 * deduplication window (it holds the last 1000 inserts; concurrent claims are seconds apart):
 * then the earliest claim wins, the holder id breaking a tie, so every reader picks the same one.
 */
const CURRENT_SQL = `
SELECT term, holder, host, pid, started_at, heartbeat_at, expires_at
FROM {db:Identifier}.writer_lease FINAL
WHERE term = (SELECT max(term) FROM {db:Identifier}.writer_lease)
ORDER BY claimed_at, holder
LIMIT 1`;

interface RawRow {
  term: number;
  holder: string;
  host: string;
  pid: number;
  started_at: string;
  heartbeat_at: string;
  expires_at: string;
}

const utc = (s: string) => new Date(`${s.replace(' ', 'T')}Z`);
const stamp = (d: Date) => d.toISOString().replace('T', ' ').replace('Z', '');

/**
 * The writer lease of one database (docs/architecture.md, "One writer"). `start()` claims it
 * or learns who holds it, then every `renewMs` the holder renews and a standby tries to take
 * over, which it can only once the lease expired. `check()` is what the EventWriter asks before
 * each group: it passes while this process holds the lease with at least one renewal period
 * left, so a holder that cannot renew stops writing before anyone may take over.
 */
export class WriterLease {
  readonly identity: LeaseIdentity;
  private term: number | undefined;
  private claimedAt: Date | undefined;
  /** This process may write until then (its lease's expiry less one renewal period). */
  private validUntil = 0;
  private other: LeaseRow | undefined;
  private lastError: string | undefined;
  private cancel: (() => void) | undefined;
  private running: Promise<void> = Promise.resolve();
  private stopped = false;
  private readonly acquired: (() => void)[] = [];

  constructor(
    private readonly exec: Executor,
    private readonly options: LeaseOptions,
  ) {
    this.identity = options.identity ?? processIdentity(options.clock.now());
  }

  /** Called each time this process becomes the holder (at start or on a takeover). */
  onAcquired(fn: () => void): void {
    this.acquired.push(fn);
  }

  get holding(): boolean {
    return this.term !== undefined && this.options.clock.now().getTime() < this.validUntil;
  }

  /** Throws NotLeaseHolderError, naming the holder when known, unless this process may write now. */
  check(requestId?: string): void {
    if (!this.holding) throw new NotLeaseHolderError(this.describe(), requestId);
  }

  /** Why this process may not write, naming the holder when known; or that it holds the lease. */
  describe(): string {
    if (this.holding) return `this instance holds the writer lease (term ${this.term}, holder ${this.identity.id})`;
    if (this.other) {
      const expired = this.other.expiresAt <= this.options.clock.now() ? '; it has expired and this instance takes over at its next attempt' : '';
      return `the writer lease of this database is held by ${describeHolder(this.other)}${expired}`;
    }
    const why = this.lastError ? ` (${this.lastError})` : '';
    return this.term !== undefined ? `this instance's writer lease was not renewed in time${why}` : `this instance has not obtained the writer lease${why}`;
  }

  /** The current holder as stored, or undefined when no process ever claimed the lease. */
  async current(): Promise<LeaseRow | undefined> {
    const [row] = await this.exec.rows<RawRow>({ query: CURRENT_SQL, query_params: {} }, CTX);
    if (!row) return undefined;
    return {
      term: Number(row.term),
      holder: row.holder,
      host: row.host,
      pid: Number(row.pid),
      startedAt: utc(row.started_at),
      heartbeatAt: utc(row.heartbeat_at),
      expiresAt: utc(row.expires_at),
    };
  }

  /**
   * One step: the holder renews; anyone else claims the next term if the lease expired (or was
   * never taken). A claim is an insert deduplicated by its term, then a read of who won it.
   */
  async attempt(): Promise<void> {
    try {
      if (this.options.replicated) await this.syncReplica();
      const current = await this.current();
      const now = this.options.clock.now();
      // Ours and unexpired: renewed (also after a claim whose answer was lost). Once it expired,
      // a standby may be claiming the next term, and this process must win that claim like anyone.
      if (current?.holder === this.identity.id && current.expiresAt > now) {
        await this.write(current.term, now, new Date(now.getTime() + this.options.ttlMs));
        this.hold(current.term, now);
        return;
      }
      this.term = undefined;
      this.validUntil = 0;
      this.other = current;
      if (current && current.expiresAt > now) return;
      const term = (current?.term ?? 0) + 1;
      this.claimedAt = now;
      await this.write(term, now, new Date(now.getTime() + this.options.ttlMs), true);
      if (this.options.replicated) await this.syncReplica();
      const winner = await this.current();
      if (winner?.term === term && winner.holder === this.identity.id) this.hold(term, now);
      else this.other = winner;
    } catch (e) {
      // Storage trouble: a holder keeps its lease until validUntil and tries again at the next tick.
      this.lastError = (e as Error).message;
    }
  }

  /** Holds `term`, written at `now`; a term this process did not hold before calls onAcquired. */
  private hold(term: number, now: Date): void {
    const gained = this.term !== term;
    this.term = term;
    this.other = undefined;
    this.validUntil = now.getTime() + this.options.ttlMs - this.options.renewMs;
    this.lastError = undefined;
    if (gained) for (const fn of this.acquired) fn();
  }

  /** First attempt, then one every renewMs until stop(). */
  async start(): Promise<void> {
    await (this.running = this.attempt());
    const tick = () => {
      if (this.stopped) return;
      this.running = this.attempt().finally(() => {
        if (!this.stopped) this.cancel = this.options.clock.setTimer(this.options.renewMs, tick);
      });
    };
    this.cancel = this.options.clock.setTimer(this.options.renewMs, tick);
  }

  /** Resolves once the attempt in progress (one a timer started) is over. */
  settled(): Promise<void> {
    return this.running;
  }

  /**
   * Stops renewing and, if this process holds the lease, ends it now (expiry = now), so a
   * standby takes over at its next attempt instead of after the TTL. Call it once nothing
   * writes any more.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    this.cancel?.();
    await this.running;
    if (this.term === undefined) return;
    const term = this.term;
    this.term = undefined;
    this.validUntil = 0;
    const now = this.options.clock.now();
    await this.write(term, now, now).catch(() => undefined);
  }

  private async write(term: number, heartbeat: Date, expires: Date, claim = false): Promise<void> {
    const { id, host, pid, startedAt } = this.identity;
    // Only a claim carries a token, in the statement itself rather than as a session setting: an
    // embedded session's settings are shared by concurrent statements. The term is an integer.
    const token = claim ? ` SETTINGS insert_deduplicate = 1, insert_deduplication_token = 'writer-lease-term-${term}'` : '';
    await this.exec.command(
      {
        query: `INSERT INTO {db:Identifier}.writer_lease${token}
          SELECT {term:UInt64}, {holder:String}, {host:String}, {pid:UInt32}, {startedAt:DateTime64(3, 'UTC')},
                 {claimedAt:DateTime64(3, 'UTC')}, {heartbeat:DateTime64(3, 'UTC')}, {expires:DateTime64(3, 'UTC')}`,
        query_params: {
          term,
          holder: id,
          host,
          pid,
          startedAt: stamp(startedAt),
          // A renewal keeps its claim's time, which orders the claims of a term (CURRENT_SQL).
          claimedAt: stamp(this.claimedAt ?? heartbeat),
          heartbeat: stamp(heartbeat),
          expires: stamp(expires),
        },
      },
      CTX,
    );
  }

  /** Fetches what other nodes inserted, so that a read sees every claim made before it. */
  private async syncReplica(): Promise<void> {
    await this.exec.command(`SYSTEM SYNC REPLICA ${this.exec.database}.writer_lease`, CTX);
  }
}
