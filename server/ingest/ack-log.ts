import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { open, rename, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { TableName } from './validate.js';

/** A raw table's row as the writer inserts it: eventId and the table's columns. */
export type LoggedRow = { event_id: string } & Record<string, unknown>;

/** One acknowledged group of writes: its sequence number and the new rows of each raw table. */
export interface LoggedGroup {
  seq: number;
  rows: Partial<Record<TableName, LoggedRow[]>>;
}

/** The log's one file under its directory (DATA_DIR/ingest-log). */
export const ACK_LOG_FILE = 'groups.ndjson';

/**
 * A log larger than this, at least half of it applied, is rewritten with the groups still to
 * apply before the next group: under a steady trickle some group is nearly always outstanding,
 * so waiting for none would let the file, and the read at start, grow without end.
 */
const COMPACT_BYTES = 64 * 1024 ** 2;

export interface AckLogOptions {
  /** COMPACT_BYTES unless given (tests). */
  compactBytes?: number;
}

/** A line of the log that is not a group nor a mark: the file was damaged after it was written. */
export class AckLogDamagedError extends Error {}

/**
 * The writer's durable log of acknowledged groups (docs/architecture.md, "Acknowledged before
 * the views"). Embedded, an acknowledgement waits for the group's line to reach the disk
 * (fdatasync), not for the inserts and their materialized views; the writer applies the groups
 * to the tables behind it, in order, and marks each applied. At start every group without a
 * mark is applied again, its rows that landed before a crash found by their eventIds.
 *
 * One NDJSON file: `{"seq":n,"rows":{table:[row…]}}` per group and `{"applied":n}` per mark.
 * Every change of the file goes through one chain, so a mark never lands beside a rewrite. The
 * rewrite goes to a new file, synced, renamed over the old one: a crash leaves one or the other.
 * A line is acknowledged only once its datasync returned, so a torn last line (a crash during
 * its write) was never acknowledged and is cut off at open.
 */
export class AckLog {
  private chain: Promise<unknown> = Promise.resolve();
  /** Groups written and not marked applied, with their lines (what a rewrite keeps) and their bytes. */
  private readonly outstanding: Map<number, string>;
  private outstandingBytes = 0;
  private lastSeq: number;

  private constructor(
    private fh: FileHandle,
    private size: number,
    readonly path: string,
    unapplied: ReadonlyMap<number, string>,
    lastSeq: number,
    private readonly compactBytes: number,
  ) {
    this.outstanding = new Map(unapplied);
    for (const line of unapplied.values()) this.outstandingBytes += Buffer.byteLength(line);
    this.lastSeq = lastSeq;
  }

  /** Opens the log in `dir` (created if missing) and returns the groups it holds without a mark, in order. */
  static async open(dir: string, options: AckLogOptions = {}): Promise<{ log: AckLog; unapplied: LoggedGroup[] }> {
    mkdirSync(dir, { recursive: true });
    const path = join(dir, ACK_LOG_FILE);
    const bytes = existsSync(path) ? readFileSync(path) : Buffer.alloc(0);
    const groups = new Map<number, LoggedGroup>();
    const lines = new Map<number, string>();
    let complete = 0;
    let lastSeq = 0;
    let line = 0;
    for (let start = 0; start < bytes.length; ) {
      const end = bytes.indexOf(0x0a, start);
      if (end < 0) break; // torn: written in part, never acknowledged
      line++;
      let record: { seq?: unknown; rows?: unknown; applied?: unknown };
      try {
        record = JSON.parse(bytes.toString('utf8', start, end)) as typeof record;
      } catch {
        throw new AckLogDamagedError(`${path} line ${line} is not a group of the ingest log: the file was damaged. Acknowledged events may be in it; keep a copy before moving it away.`);
      }
      if (typeof record.applied === 'number') {
        groups.delete(record.applied);
        lines.delete(record.applied);
      } else if (typeof record.seq === 'number' && typeof record.rows === 'object' && record.rows !== null) {
        groups.set(record.seq, record as LoggedGroup);
        lines.set(record.seq, bytes.toString('utf8', start, end + 1));
        lastSeq = Math.max(lastSeq, record.seq);
      } else throw new AckLogDamagedError(`${path} line ${line} is neither a group nor an applied mark: the file was damaged.`);
      complete = end + 1;
      start = end + 1;
    }
    const fh = await open(path, existsSync(path) ? 'r+' : 'w+');
    if (complete < bytes.length) {
      await fh.truncate(complete);
      await fh.datasync();
    }
    const unapplied = [...groups.values()].sort((a, b) => a.seq - b.seq);
    const unappliedLines = new Map(unapplied.map((g) => [g.seq, lines.get(g.seq)!]));
    return { log: new AckLog(fh, complete, path, unappliedLines, lastSeq, options.compactBytes ?? COMPACT_BYTES), unapplied };
  }

  /** Writes a group and returns once it is on disk: then, and only then, may it be acknowledged. */
  append(rows: LoggedGroup['rows']): Promise<LoggedGroup> {
    return this.serial(async () => {
      if (this.size > this.compactBytes && this.outstandingBytes * 2 <= this.size) await this.rewrite();
      const group = { seq: this.lastSeq + 1, rows };
      const line = `${JSON.stringify(group)}\n`;
      await this.write(line, true);
      this.lastSeq = group.seq;
      this.outstanding.set(group.seq, line);
      this.outstandingBytes += Buffer.byteLength(line);
      return group;
    });
  }

  /**
   * Marks groups applied. Not synced: a mark lost in a crash only makes the next start look up
   * the group's eventIds and find every row stored.
   */
  applied(seqs: readonly number[]): Promise<void> {
    return this.serial(async () => {
      await this.write(seqs.map((seq) => `${JSON.stringify({ applied: seq })}\n`).join(''));
      for (const seq of seqs) {
        const line = this.outstanding.get(seq);
        if (line !== undefined) this.outstandingBytes -= Buffer.byteLength(line);
        this.outstanding.delete(seq);
      }
    });
  }

  /**
   * Rewrites the file with only the groups not yet applied, whatever its size: after an
   * erasure, so that no line of the erased customers' events stays in it (spec section 16: the
   * service keeps erased ids only as keyed hashes). The writer calls it once every group is
   * applied, so the file is left empty.
   */
  dropApplied(): Promise<void> {
    return this.serial(() => this.rewrite());
  }

  /** The file again with only the groups not yet applied: a new file, synced, renamed over this one. */
  private async rewrite(): Promise<void> {
    const text = [...this.outstanding.values()].join('');
    const next = `${this.path}.next`;
    const fresh = await open(next, 'w');
    try {
      await fresh.write(text);
      await fresh.datasync();
    } finally {
      await fresh.close();
    }
    await rename(next, this.path);
    // The rename itself is durable once the directory is synced.
    const dir = await open(dirname(this.path), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
    const reopened = await open(this.path, 'r+');
    await this.fh.close();
    this.fh = reopened;
    this.size = Buffer.byteLength(text);
  }

  /** The file's length in bytes. */
  get bytes(): number {
    return this.size;
  }

  close(): Promise<void> {
    return this.serial(() => this.fh.close());
  }

  /** Appends `text`, or leaves the file as it was: no later line may follow a part of it. */
  private async write(text: string, sync = false): Promise<void> {
    const buffer = Buffer.from(text, 'utf8');
    const at = this.size;
    try {
      await this.fh.write(buffer, 0, buffer.length, at);
      if (sync) await this.fh.datasync();
      this.size = at + buffer.length;
    } catch (e) {
      await this.fh.truncate(at).catch(() => undefined);
      throw e;
    }
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn);
    this.chain = next.catch(() => undefined);
    return next;
  }
}
