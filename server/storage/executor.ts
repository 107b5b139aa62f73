import type { ClickHouseClient, ClickHouseError, ClickHouseSettings } from '@clickhouse/client';
import type { Logger } from 'pino';
import type { Storage } from './client.js';
import { RequestTimeoutError, StorageUnavailableError, TimeoutError } from './errors.js';
import { sleep, STORAGE_BACKOFF, withRetries } from './retry.js';

/** What a SQL builder returns: text with typed placeholders, and the values bound to them. */
export interface SqlQuery {
  query: string;
  query_params: Record<string, unknown>;
}

export interface QueryContext {
  requestId: string;
  signal?: AbortSignal;
  /**
   * The request's time budget (GRAPHQL_MAX_REQUEST_TIME): no statement starts after `at`
   * (Date.now() ms) and none runs past it.
   */
  deadline?: { at: number; limitS: number };
  /**
   * A statement of the ingest path (the duplicate lookup, the inserts). Embedded, where chDB runs
   * one parameterized statement at a time, it goes before every read still waiting (Turns), and
   * an insert runs on the ingest session (Storage.ingestClient): an acknowledgement waits for at
   * most the one statement running, not for every queued KPI query.
   */
  urgent?: boolean;
  /**
   * With `urgent`: a statement of the ingest log's applier, inserting groups already
   * acknowledged. Embedded, it runs on a session of its own (Storage.applyClient), so the
   * acknowledgement path's look-ups on the ingest session never wait for it.
   */
  behind?: boolean;
  /**
   * The groups of acknowledged events this request's reads wait for (EventWriter.acknowledged
   * when the request began; the GraphQL context sets it). Without it each read waits for every
   * group acknowledged before it, so a snapshot's nine statements would each wait for the
   * ingest log's applier again under a trickle.
   */
  since?: number;
}

export interface ExecutorLimits {
  maxExecutionTimeS: number;
  maxMemoryBytes: number;
  /** Retries of a read after a connection-level failure (CLICKHOUSE_MAX_RETRIES); 0 when absent. */
  maxRetries?: number;
}

const CONNECTION_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);

/**
 * The request never got an answer: refused, reset, hung up or timed out before a response.
 * A ClickHouse error is an answer and never counts, whatever its text.
 */
export function isConnectionFailure(e: unknown): boolean {
  if (!(e instanceof Error) || isClickHouseError(e)) return false;
  const err = e as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
  const code = err.code ?? err.cause?.code;
  // the client's own request_timeout rejects with a plain "Timeout error."
  return (code !== undefined && CONNECTION_CODES.has(code)) || /socket hang up|^Timeout error/i.test(err.message);
}

/** A read whose connection failed: retried while retries are left, then translated. */
class LostRead extends Error {
  constructor(
    override readonly cause: unknown,
    readonly queryId: string,
  ) {
    super('connection failure during a read');
  }
}

/**
 * A write whose connection failed: the server may have applied it, may still be applying it,
 * or never saw it. Only the caller can tell how to recover (EventWriter re-checks its ids).
 */
export class OutcomeUnknownError extends StorageUnavailableError {
  constructor(
    requestId: string,
    readonly queryId: string,
  ) {
    super(requestId);
  }
}

/**
 * Lists bound as parameters are split into statements of about this many bytes. Server mode
 * binds them in the URL (ClickHouse's http_max_uri_size is 1 MiB by default, and URL encoding
 * may triple a byte); embedded, the time of one lookup grows much faster than its list, so a
 * long enough list runs into the time limit (figures in docs/performance.md, "Figures behind
 * design choices in the code").
 */
export const PARAM_CHUNK_BYTES = 256 * 1024;

/**
 * Consecutive chunks of `values` whose texts (plus 4 bytes each for quotes and separators)
 * stay within `maxBytes`; a value larger than that gets a chunk of its own.
 */
export function chunkByBytes<T>(values: readonly T[], text: (v: T) => string, maxBytes = PARAM_CHUNK_BYTES): T[][] {
  const chunks: T[][] = [];
  let chunk: T[] = [];
  let bytes = 0;
  for (const v of values) {
    const size = Buffer.byteLength(text(v)) + 4;
    if (chunk.length > 0 && bytes + size > maxBytes) {
      chunks.push(chunk);
      chunk = [];
      bytes = 0;
    }
    chunk.push(v);
    bytes += size;
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
}

/** Rows per batch of Executor.stream: a CSV chunk of a few hundred KB. */
export const STREAM_BATCH_ROWS = 4096;

/**
 * JSONEachRow rows of a byte stream, in batches of at most `batchRows`, cut at newlines (a
 * UTF-8 newline byte never occurs inside a multi-byte character, and JSON escapes newlines in
 * strings). A line that is not JSON is a server's error text written after rows had gone out.
 */
export async function* jsonEachRow<T>(bytes: AsyncIterable<Buffer> | Iterable<Buffer>, batchRows: number): AsyncGenerator<T[]> {
  let partial = Buffer.alloc(0);
  let batch: T[] = [];
  for await (const chunk of bytes) {
    let start = 0;
    for (let nl = chunk.indexOf(10); nl !== -1; nl = chunk.indexOf(10, start)) {
      const line = (partial.length > 0 ? Buffer.concat([partial, chunk.subarray(start, nl)]) : chunk.subarray(start, nl)).toString('utf8');
      partial = Buffer.alloc(0);
      start = nl + 1;
      if (line.length === 0) continue;
      try {
        batch.push(JSON.parse(line) as T);
      } catch {
        throw new Error(`the result stream broke off: ${line.slice(0, 300)}`);
      }
      if (batch.length === batchRows) {
        yield batch;
        batch = [];
      }
    }
    if (start < chunk.length) partial = Buffer.concat([partial, chunk.subarray(start)]);
  }
  if (partial.length > 0) throw new Error(`the result stream ended inside a row: ${partial.toString('utf8', 0, 300)}`);
  if (batch.length > 0) yield batch;
}

export type QueryObserver = (event: { query: string; durationMs: number; ok: boolean }) => void;
/** Sees the rows of every insert that succeeded, after it returned. */
export type InsertObserver = (table: string, values: readonly object[]) => void;

/** A setting whose SET may or may not have run (its statement failed): sent again when needed. */
const UNKNOWN = Symbol('unknown');

/**
 * What each embedded chDB session (one per client) holds from earlier SETs, and the values the
 * session had before a one-off setting (a caller's `extra`) was first set, to put back after it.
 */
interface Session {
  held: Map<string, unknown>;
  restore: Map<string, string>;
  /**
   * One-off settings the engine does not list (`wait_end_of_query`, which chDB's adapter drops as
   * HTTP-only): nothing to put back, and never looked up again. The look-up has parameters, so
   * chDB chains it behind whatever statement runs: repeated before every insert, it held each
   * acknowledgement for the running KPI statement (seconds at 10M; docs/performance.md).
   */
  unlisted: Set<string>;
}
const sessions = new WeakMap<object, Session>();

function sessionOf(client: object): Session {
  let session = sessions.get(client);
  if (!session) sessions.set(client, (session = { held: new Map(), restore: new Map(), unlisted: new Set() }));
  return session;
}

/**
 * Who runs next in the embedded engine. chDB runs parameterized statements one at a time per
 * process, whatever the session (its bindings chain them: libchdb's parameter state is not
 * isolated per connection; three `SELECT sleep(1), {x:String}` sent together take 3 s), and
 * every statement of ours but an insert carries parameters. So they wait here instead of in
 * chDB's chain, which lets us choose the order: urgent statements (QueryContext.urgent: the
 * ingest path) before every waiting read, then arrival order; and a waiting statement whose
 * request is aborted (a board closed, a client gone) leaves instead of running for nobody.
 */
class Turns {
  private busy = false;
  private readonly urgent: (() => void)[] = [];
  private readonly others: (() => void)[] = [];

  async run<T>(urgent: boolean, signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
    if (this.busy) await this.wait(urgent ? this.urgent : this.others, signal);
    else this.busy = true;
    try {
      return await fn();
    } finally {
      // The turn passes straight to the next waiter; the engine is free only when none waits.
      const next = this.urgent.shift() ?? this.others.shift();
      if (next) next();
      else this.busy = false;
    }
  }

  private wait(queue: (() => void)[], signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const go = () => {
        signal?.removeEventListener('abort', leave);
        resolve();
      };
      const leave = () => {
        queue.splice(queue.indexOf(go), 1);
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', leave, { once: true });
      queue.push(go);
    });
  }
}

/** One per process, as chDB's own chain is. */
const turns = new Turns();

/** Numbers the look-ups' temporary tables: process-wide, since executors may share a session. */
let tempTables = 0;

const TIMEOUT_CODES = new Set([159, 160, 394]); // TIMEOUT_EXCEEDED, TOO_SLOW, QUERY_WAS_CANCELLED

/**
 * By name, not instanceof: @clickhouse/client bundles its own copy of the error class, while chDB
 * throws the one from @clickhouse/client-common, so embedded errors are never `instanceof` the former.
 */
function isClickHouseError(e: unknown): e is ClickHouseError {
  return e instanceof Error && e.constructor.name === 'ClickHouseError';
}

function isTimeout(e: unknown): e is ClickHouseError {
  return isClickHouseError(e) && TIMEOUT_CODES.has(Number(e.code));
}

/**
 * Every statement the service sends goes through here: it binds the database, carries the
 * guardrail settings and the request id as query_id, and turns ClickHouse failures into
 * typed errors whose text never leaks SQL.
 */
export class Executor {
  private seq = 0;
  private readonly observers: QueryObserver[] = [];
  private readonly insertObservers: InsertObserver[] = [];
  /**
   * Awaited before every read but the ingest path's (QueryContext.urgent): the writer's, when it
   * acknowledges events before they are in the tables (EventWriter.visible), so a read still sees
   * every write answered before it began.
   */
  readBarrier: ((ctx: QueryContext) => Promise<void> | undefined) | undefined;

  /**
   * Resolves once every write acknowledged before the call is in the tables (readBarrier): an
   * in-process cache of store facts kept up by onInsert asks it before answering from memory.
   */
  async caughtUp(ctx: QueryContext): Promise<void> {
    await this.readBarrier?.(ctx);
  }

  constructor(
    readonly storage: Storage,
    private readonly limits: ExecutorLimits,
    private readonly log: Logger,
  ) {}

  get maxRetries(): number {
    return this.limits.maxRetries ?? 0;
  }

  get database(): string {
    return this.storage.database;
  }

  observe(fn: QueryObserver): () => void {
    this.observers.push(fn);
    return () => this.observers.splice(this.observers.indexOf(fn), 1);
  }

  /** In-process caches of store-wide facts (loaders/reporting-currency.ts) keep up with this process's writes through it. */
  onInsert(fn: InsertObserver): () => void {
    this.insertObservers.push(fn);
    return () => this.insertObservers.splice(this.insertObservers.indexOf(fn), 1);
  }

  /**
   * Seconds the next statement may run: QUERY_MAX_EXECUTION_TIME, or what is left of the
   * request's budget when that is less (then a timeout is the request's). Only near the end of
   * the budget does the value change, so the embedded session is rarely sent a new SET.
   */
  private timeLimit(ctx: QueryContext): { seconds: number; request: boolean } {
    const own = this.limits.maxExecutionTimeS;
    if (!ctx.deadline) return { seconds: own, request: false };
    const left = Math.ceil(ctx.deadline.at - Date.now()) / 1000;
    if (left <= 0) throw new RequestTimeoutError(ctx.deadline.limitS, ctx.requestId);
    return left < own ? { seconds: left, request: true } : { seconds: own, request: false };
  }

  private async settings(client: ClickHouseClient, maxExecutionTimeS: number, extra?: ClickHouseSettings): Promise<ClickHouseSettings> {
    return this.unlessHeld(
      client,
      {
        max_execution_time: maxExecutionTimeS,
        max_memory_usage: String(this.limits.maxMemoryBytes),
        ...this.storage.settings,
        // Counts come back as JSON numbers (the one place UInt64 strings are avoided); decimals too,
        // parsed to the nearest double at the edge after ClickHouse summed them exactly.
        output_format_json_quote_64bit_integers: 0,
        output_format_json_quote_decimals: 0,
        ...extra,
      },
      extra,
    );
  }

  /**
   * Embedded, chDB sends each setting as a SET statement in front of the query, and a
   * multi-statement query lexes the whole text once more: for an insert, its inline body
   * (its CPU cost is in docs/performance.md). A SET holds for the rest of the chDB session, so
   * only settings whose value differs from what the session holds are sent. A one-off setting
   * of one statement (`extra`) must not hold for the next ones: the next statement that does
   * not ask for it sets it back to the session's earlier value.
   */
  private async unlessHeld(client: ClickHouseClient, all: ClickHouseSettings, extra: ClickHouseSettings | undefined): Promise<ClickHouseSettings> {
    if (this.storage.mode !== 'embedded') return all;
    const { held, restore, unlisted } = sessionOf(client);
    const unseen = Object.keys(extra ?? {}).filter((k) => !restore.has(k) && !unlisted.has(k));
    if (unseen.length > 0) {
      const rs = await client.query({
        query: 'SELECT name, value FROM system.settings WHERE name IN {names:Array(String)}',
        query_params: { names: unseen },
        format: 'JSONEachRow',
      });
      for (const r of await rs.json<{ name: string; value: string }>()) restore.set(r.name, r.value);
      for (const k of unseen) if (!restore.has(k)) unlisted.add(k);
    }
    const send: Record<string, unknown> = {};
    const set = (k: string, v: unknown) => {
      if (v === undefined || held.get(k) === v) return;
      send[k] = v;
      held.set(k, v);
    };
    for (const [k, v] of Object.entries(all)) set(k, v);
    for (const [k, v] of restore) if (!(k in all) && held.has(k)) set(k, v);
    return send as ClickHouseSettings;
  }

  /** A failed statement's SETs may or may not have run. */
  private forget(client: ClickHouseClient, sent: ClickHouseSettings): void {
    const held = sessions.get(client)?.held;
    for (const k of Object.keys(sent)) held?.set(k, UNKNOWN);
  }

  private queryId(ctx: QueryContext): string {
    return `${ctx.requestId}-${++this.seq}`;
  }

  /**
   * Runs one statement with a fresh query_id per attempt. Reads are repeated after a
   * connection-level failure, with backoff; anything else is translated and thrown once.
   */
  private async timed<T>(
    query: string,
    ctx: QueryContext,
    kind: 'read' | 'write' | 'insert',
    extra: ClickHouseSettings | undefined,
    run: (client: ClickHouseClient, queryId: string, settings: ClickHouseSettings) => Promise<T>,
    parameterized = kind !== 'insert',
  ): Promise<T> {
    // Awaited only when there is something to wait for: otherwise the statement takes its turn
    // (Turns) in the same tick it was issued, and statements issued together keep their order.
    const behind = kind === 'read' && !ctx.urgent ? this.readBarrier?.(ctx) : undefined;
    if (behind) await behind;
    // Past the request's deadline nothing is sent (nor observed).
    let limit = this.timeLimit(ctx);
    const started = performance.now();
    let ok = false;
    try {
      return await withRetries(
        async () => {
          const queryId = this.queryId(ctx);
          const client = !ctx.urgent ? this.storage.client : ctx.behind ? this.storage.applyClient : this.storage.ingestClient;
          let settings: ClickHouseSettings = {};
          try {
            return await this.turn(parameterized, ctx, async () => {
              // Once its turn comes: time spent queued (or before a retry) is no longer the statement's to spend.
              limit = this.timeLimit(ctx);
              settings = await this.settings(client, limit.seconds, extra);
              const result = await run(client, queryId, settings);
              ok = true;
              return result;
            });
          } catch (e) {
            this.forget(client, settings);
            // The request's time ran out while the statement waited for the session.
            if (e instanceof RequestTimeoutError) throw e;
            if (limit.request && isTimeout(e)) throw new RequestTimeoutError(ctx.deadline!.limitS, ctx.requestId);
            if (!isConnectionFailure(e) || ctx.signal?.aborted) throw this.translate(e, query, ctx);
            if (kind !== 'read') {
              this.log.warn({ requestId: ctx.requestId, queryId, err: e, query }, 'connection lost during a write; outcome unknown');
              throw new OutcomeUnknownError(ctx.requestId, queryId);
            }
            throw new LostRead(e, queryId);
          }
        },
        {
          retries: this.maxRetries,
          isRetryable: (e) => e instanceof LostRead,
          onRetry: (e, retry) =>
            this.log.warn({ requestId: ctx.requestId, queryId: (e as LostRead).queryId, err: (e as LostRead).cause, attempt: retry }, 'connection failure; retrying the read'),
        },
      );
    } catch (e) {
      throw e instanceof LostRead ? this.translate(e.cause, query, ctx) : e;
    } finally {
      const durationMs = performance.now() - started;
      for (const o of this.observers) o({ query, durationMs, ok });
    }
  }

  /**
   * Embedded, a statement with parameters waits for its turn (Turns); an insert has none, and
   * chDB runs it beside the others (an urgent one on the ingest session, the main one being
   * busy with reads). A server runs statements side by side.
   */
  private turn<T>(parameterized: boolean, ctx: QueryContext, fn: () => Promise<T>): Promise<T> {
    if (this.storage.mode !== 'embedded' || !parameterized) return fn();
    return turns.run(ctx.urgent === true, ctx.signal, fn);
  }

  private translate(e: unknown, query: string, ctx: QueryContext): Error {
    if (isTimeout(e)) {
      this.log.warn({ requestId: ctx.requestId, code: e.code, query }, 'query stopped at its time limit');
      return new TimeoutError(this.limits.maxExecutionTimeS, ctx.requestId);
    }
    if ((e as Error)?.name === 'AbortError') return e as Error;
    this.log.error({ requestId: ctx.requestId, err: e, query }, 'storage query failed');
    return new StorageUnavailableError(ctx.requestId);
  }

  async rows<T>(q: SqlQuery, ctx: QueryContext, extra?: ClickHouseSettings): Promise<T[]> {
    return this.timed(q.query, ctx, 'read', extra, async (client, queryId, settings) => {
      const rs = await client.query({
        query: q.query,
        query_params: { db: this.database, ...q.query_params },
        format: 'JSONEachRow',
        query_id: queryId,
        abort_signal: ctx.signal,
        clickhouse_settings: settings,
      });
      return rs.json<T>();
    });
  }

  /**
   * rows() of a read whose values are lists of strings (the writer's eventId look-up), built by
   * `build`, which writes `list(i)` where the query reads the i-th list as a set. On a server that
   * is a parameter. Embedded, the lists travel as the rows of a temporary table of the session
   * instead, and the statements carry no parameter at all: chDB runs parameterized statements one
   * at a time process-wide (Turns), so an acknowledgement waited for whichever KPI statement
   * was running (seconds at 10M purchases), while statements without parameters run beside it.
   * The table's name is ours, its rows are data (never SQL text), and the database is a
   * validated identifier (server/config.ts), so no value of a client's is spliced.
   */
  async rowsWithLists<T>(
    lists: readonly (readonly string[])[],
    build: (list: (i: number) => string) => string,
    ctx: QueryContext,
    extra?: ClickHouseSettings,
  ): Promise<T[]> {
    if (this.storage.mode !== 'embedded') {
      const params = Object.fromEntries(lists.map((values, i) => [`list${i}`, values]));
      return this.rows<T>({ query: build((i) => `{list${i}:Array(String)}`), query_params: params }, ctx, extra);
    }
    // The temporary table lives in the session the statements run on: ctx picks it (timed()).
    const table = `kpi_lists_${++tempTables}`;
    const unbound = <R>(
      query: string,
      kind: 'read' | 'write' | 'insert',
      run: (client: ClickHouseClient, queryId: string, settings: ClickHouseSettings) => Promise<R>,
      settings?: ClickHouseSettings,
    ) => this.timed(query, ctx, kind, settings, run, false);
    const command = (query: string) => unbound(query, 'write', (client, query_id, clickhouse_settings) => client.command({ query, query_id, clickhouse_settings }));
    await command(`CREATE TEMPORARY TABLE ${table} (list UInt16, value String) ENGINE = Memory`);
    try {
      const rows = lists.flatMap((values, list) => values.map((value) => ({ list, value })));
      await unbound(`INSERT INTO ${table}`, 'insert', (client, query_id, clickhouse_settings) =>
        client.insert({ table, values: rows, format: 'JSONEachRow', query_id, clickhouse_settings }),
      );
      const query = build((i) => `(SELECT value FROM ${table} WHERE list = ${Number(i)})`).replaceAll('{db:Identifier}', `\`${this.database}\``);
      return await unbound(
        query,
        'read',
        async (client, query_id, clickhouse_settings) => (await client.query({ query, format: 'JSONEachRow', query_id, abort_signal: ctx.signal, clickhouse_settings })).json<T>(),
        extra,
      );
    } finally {
      await command(`DROP TEMPORARY TABLE IF EXISTS ${table}`).catch(() => undefined);
    }
  }

  /**
   * A read's rows in batches of at most STREAM_BATCH_ROWS, for answers too large to hold (CSV
   * exports): the caller pulls the next batch when it has written the last one, so the rows in
   * hand stay one batch whatever the row count. The bytes are parsed here, line by line, rather
   * than by ResultSet.stream(): that turns each received chunk into row objects at once, and
   * embedded chDB delivers a whole result as one chunk (a million ids took 430 MB of heap that
   * way, 14 MB this way: docs/architecture.md, "Exports").
   * The same guardrails as rows(); a connection lost before the answer is retried like any read,
   * one lost later ends the stream with the error (rows were already handed out). Stopping early
   * (return, or the abort signal) destroys the response, which ends the statement.
   */
  async *stream<T>(q: SqlQuery, ctx: QueryContext, extra?: ClickHouseSettings): AsyncGenerator<T[]> {
    const query = `${q.query}\nFORMAT JSONEachRow`;
    const { stream } = await this.timed(q.query, ctx, 'read', extra, (client, queryId, settings) =>
      client.exec({
        query,
        query_params: { db: this.database, ...q.query_params },
        query_id: queryId,
        abort_signal: ctx.signal,
        clickhouse_settings: settings,
      }),
    );
    try {
      yield* jsonEachRow<T>(stream, STREAM_BATCH_ROWS);
    } catch (e) {
      throw this.translate(e, q.query, ctx);
    } finally {
      stream.destroy();
    }
  }

  async command(q: SqlQuery | string, ctx: QueryContext, extra?: ClickHouseSettings): Promise<void> {
    const { query, query_params } = typeof q === 'string' ? { query: q, query_params: {} } : q;
    await this.timed(query, ctx, 'write', extra, (client, queryId, settings) =>
      client.command({
        query,
        query_params: { db: this.database, ...query_params },
        query_id: queryId,
        abort_signal: ctx.signal,
        clickhouse_settings: settings,
      }),
    );
  }

  /**
   * Waits until a statement whose connection was lost no longer runs on the server, so a
   * following read sees everything it stored (a lost response does not stop an insert).
   */
  async settle(queryId: string, ctx: QueryContext): Promise<void> {
    const timeoutMs = this.limits.maxExecutionTimeS * 1000;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const [row] = await this.rows<{ n: number }>(
        { query: 'SELECT count() AS n FROM system.processes WHERE query_id = {id:String}', query_params: { id: queryId } },
        ctx,
      );
      if (row!.n === 0) return;
      if (Date.now() > deadline) throw this.translate(new Error(`statement ${queryId} still running after ${timeoutMs} ms`), 'settle', ctx);
      await sleep(STORAGE_BACKOFF.baseMs);
    }
  }

  async insert(table: string, values: readonly object[], ctx: QueryContext, extra?: ClickHouseSettings): Promise<void> {
    if (values.length === 0) return;
    await this.timed(`INSERT INTO ${table}`, ctx, 'insert', { wait_end_of_query: 1, ...extra }, (client, queryId, settings) =>
      client.insert({
        table: `${this.database}.${table}`,
        values: values as object[],
        format: 'JSONEachRow',
        query_id: queryId,
        abort_signal: ctx.signal,
        clickhouse_settings: settings,
      }),
    );
    for (const o of this.insertObservers) o(table, values);
  }
}
