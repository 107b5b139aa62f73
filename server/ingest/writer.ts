import type { Executor, QueryContext } from '../executor.js';
import { TABLE_OF, type StoredEvent, type TableName } from './validate.js';

/**
 * The leading sort-key column of each table, present in every row: looking already-stored
 * eventIds up through it reads a few granules instead of scanning the table.
 */
const LOOKUP_KEY: Record<TableName, string> = {
  purchases: 'customer_id',
  referrals: 'referral_id',
  survey_responses: 'customer_id',
  customers: 'customer_id',
};

/** Lookups bind id lists as parameters; chunks keep a server-mode request well under URL limits. */
const LOOKUP_CHUNK = 5_000;

export interface WriteResult {
  accepted: number;
  /** Positions (in the input array) of events that were duplicates of stored or earlier ones. */
  duplicates: Set<number>;
}

/**
 * Exactly once: every write runs alone (one queue per process), drops eventIds seen earlier
 * in the batch or already stored, then inserts the rest. Because no other write interleaves
 * between the lookup and the insert, a retried or concurrently sent eventId is never stored
 * twice, and everything downstream of the raw tables stays exact (docs/architecture.md).
 */
export class EventWriter {
  private queue: Promise<unknown> = Promise.resolve();
  private nextSeq: number | undefined;

  constructor(private readonly exec: Executor) {}

  write(events: readonly StoredEvent[], ctx: QueryContext): Promise<WriteResult> {
    const run = this.queue.then(() => this.writeAlone(events, ctx));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async writeAlone(events: readonly StoredEvent[], ctx: QueryContext): Promise<WriteResult> {
    const duplicates = new Set<number>();
    const byTable = new Map<TableName, { index: number; event: StoredEvent }[]>();
    for (const [index, event] of events.entries()) {
      const table = TABLE_OF[event.type];
      let list = byTable.get(table);
      if (!list) byTable.set(table, (list = []));
      list.push({ index, event });
    }
    let accepted = 0;
    for (const [table, list] of byTable) {
      const seen = new Set<string>();
      const fresh: typeof list = [];
      for (const item of list) {
        if (seen.has(item.event.row.event_id)) duplicates.add(item.index);
        else {
          seen.add(item.event.row.event_id);
          fresh.push(item);
        }
      }
      const stored = await this.storedIds(table, fresh.map((i) => i.event), ctx);
      const rows: object[] = [];
      for (const item of fresh) {
        if (stored.has(item.event.row.event_id)) duplicates.add(item.index);
        else rows.push(table === 'customers' ? { ...item.event.row, received_seq: await this.seq(ctx) } : item.event.row);
      }
      await this.exec.insert(table, rows, ctx);
      accepted += rows.length;
    }
    return { accepted, duplicates };
  }

  private async storedIds(table: TableName, events: StoredEvent[], ctx: QueryContext): Promise<Set<string>> {
    const found = new Set<string>();
    const keyColumn = LOOKUP_KEY[table];
    for (let i = 0; i < events.length; i += LOOKUP_CHUNK) {
      const chunk = events.slice(i, i + LOOKUP_CHUNK);
      const keys = [...new Set(chunk.map((e) => (e.row as unknown as Record<string, string>)[keyColumn]!))];
      const rows = await this.exec.rows<{ event_id: string }>(
        {
          query: `SELECT event_id FROM {db:Identifier}.{table:Identifier} WHERE {key:Identifier} IN {keys:Array(String)} AND event_id IN {ids:Array(String)}`,
          query_params: { table, key: keyColumn, keys, ids: chunk.map((e) => e.row.event_id) },
        },
        ctx,
      );
      for (const r of rows) found.add(r.event_id);
    }
    return found;
  }

  /** Receive order of profile versions; continues above anything stored by earlier processes. */
  private async seq(ctx: QueryContext): Promise<number> {
    if (this.nextSeq === undefined) {
      const [row] = await this.exec.rows<{ m: number }>({ query: 'SELECT max(received_seq) AS m FROM {db:Identifier}.customers', query_params: {} }, ctx);
      this.nextSeq = Math.max((row?.m ?? 0) + 1, Date.now() * 1000);
    }
    return this.nextSeq++;
  }
}
