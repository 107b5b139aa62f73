import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
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

/** A log with nothing left to apply is emptied before the next group once it is larger than this. */
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
 * Every change of the file goes through one chain, so a mark never lands beside a truncation.
 * A line is acknowledged only once its datasync returned, so a torn last line (a crash during
 * its write) was never acknowledged and is cut off at open.
 */
export class AckLog {
  private chain: Promise<unknown> = Promise.resolve();
  /** Groups written and not marked applied. */
  private readonly outstanding = new Set<number>();
  private lastSeq: number;

  private constructor(
    private readonly fh: FileHandle,
    private size: number,
    readonly path: string,
    unapplied: readonly LoggedGroup[],
    lastSeq: number,
    private readonly compactBytes: number,
  ) {
    for (const g of unapplied) this.outstanding.add(g.seq);
    this.lastSeq = lastSeq;
  }

  /** Opens the log in `dir` (created if missing) and returns the groups it holds without a mark, in order. */
  static async open(dir: string, options: AckLogOptions = {}): Promise<{ log: AckLog; unapplied: LoggedGroup[] }> {
    mkdirSync(dir, { recursive: true });
    const path = join(dir, ACK_LOG_FILE);
    const bytes = existsSync(path) ? readFileSync(path) : Buffer.alloc(0);
    const groups = new Map<number, LoggedGroup>();
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
      if (typeof record.applied === 'number') groups.delete(record.applied);
      else if (typeof record.seq === 'number' && typeof record.rows === 'object' && record.rows !== null) {
        groups.set(record.seq, record as LoggedGroup);
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
    return { log: new AckLog(fh, complete, path, unapplied, lastSeq, options.compactBytes ?? COMPACT_BYTES), unapplied };
  }

  /** Writes a group and returns once it is on disk: then, and only then, may it be acknowledged. */
  append(rows: LoggedGroup['rows']): Promise<LoggedGroup> {
    return this.serial(async () => {
      // Nothing to apply any more: start the file over rather than let it grow with every group.
      if (this.outstanding.size === 0 && this.size > this.compactBytes) {
        await this.fh.truncate(0);
        this.size = 0;
      }
      const group = { seq: this.lastSeq + 1, rows };
      await this.write(`${JSON.stringify(group)}\n`, true);
      this.lastSeq = group.seq;
      this.outstanding.add(group.seq);
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
      for (const seq of seqs) this.outstanding.delete(seq);
    });
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
