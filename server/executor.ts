import type { ClickHouseError, ClickHouseSettings } from '@clickhouse/client';
import type { Logger } from 'pino';
import type { Storage } from './storage.js';
import { StorageUnavailableError, TimeoutError } from './errors.js';

/** What a SQL builder returns: text with typed placeholders, and the values bound to them. */
export interface SqlQuery {
  query: string;
  query_params: Record<string, unknown>;
}

export interface QueryContext {
  requestId: string;
  signal?: AbortSignal;
}

export interface ExecutorLimits {
  maxExecutionTimeS: number;
  maxMemoryBytes: number;
}

export type QueryObserver = (event: { query: string; durationMs: number; ok: boolean }) => void;

const TIMEOUT_CODES = new Set([159, 160, 394]); // TIMEOUT_EXCEEDED, TOO_SLOW, QUERY_WAS_CANCELLED

/**
 * By name, not instanceof: @clickhouse/client bundles its own copy of the error class, while chDB
 * throws the one from @clickhouse/client-common, so embedded errors are never `instanceof` the former.
 */
function isClickHouseError(e: unknown): e is ClickHouseError {
  return e instanceof Error && e.constructor.name === 'ClickHouseError';
}

/**
 * Every statement the service sends goes through here: it binds the database, carries the
 * guardrail settings and the request id as query_id, and turns ClickHouse failures into
 * typed errors whose text never leaks SQL.
 */
export class Executor {
  private seq = 0;
  private readonly observers: QueryObserver[] = [];

  constructor(
    readonly storage: Storage,
    private readonly limits: ExecutorLimits,
    private readonly log: Logger,
  ) {}

  get database(): string {
    return this.storage.database;
  }

  observe(fn: QueryObserver): () => void {
    this.observers.push(fn);
    return () => this.observers.splice(this.observers.indexOf(fn), 1);
  }

  private settings(extra?: ClickHouseSettings): ClickHouseSettings {
    return {
      max_execution_time: this.limits.maxExecutionTimeS,
      max_memory_usage: String(this.limits.maxMemoryBytes),
      // Counts come back as JSON numbers (the one place UInt64 strings are avoided); decimals too,
      // parsed to the nearest double at the edge after ClickHouse summed them exactly.
      output_format_json_quote_64bit_integers: 0,
      output_format_json_quote_decimals: 0,
      ...extra,
    };
  }

  private queryId(ctx: QueryContext): string {
    return `${ctx.requestId}-${++this.seq}`;
  }

  private async timed<T>(query: string, ctx: QueryContext, run: () => Promise<T>): Promise<T> {
    const started = performance.now();
    let ok = false;
    try {
      const result = await run();
      ok = true;
      return result;
    } catch (e) {
      throw this.translate(e, query, ctx);
    } finally {
      const durationMs = performance.now() - started;
      for (const o of this.observers) o({ query, durationMs, ok });
    }
  }

  private translate(e: unknown, query: string, ctx: QueryContext): Error {
    if (isClickHouseError(e) && TIMEOUT_CODES.has(Number(e.code))) {
      this.log.warn({ requestId: ctx.requestId, code: e.code, query }, 'query stopped at its time limit');
      return new TimeoutError(this.limits.maxExecutionTimeS, ctx.requestId);
    }
    if ((e as Error)?.name === 'AbortError') return e as Error;
    this.log.error({ requestId: ctx.requestId, err: e, query }, 'storage query failed');
    return new StorageUnavailableError(ctx.requestId);
  }

  async rows<T>(q: SqlQuery, ctx: QueryContext, extra?: ClickHouseSettings): Promise<T[]> {
    return this.timed(q.query, ctx, async () => {
      const rs = await this.storage.client.query({
        query: q.query,
        query_params: { db: this.database, ...q.query_params },
        format: 'JSONEachRow',
        query_id: this.queryId(ctx),
        abort_signal: ctx.signal,
        clickhouse_settings: this.settings(extra),
      });
      return rs.json<T>();
    });
  }

  async command(q: SqlQuery | string, ctx: QueryContext, extra?: ClickHouseSettings): Promise<void> {
    const { query, query_params } = typeof q === 'string' ? { query: q, query_params: {} } : q;
    await this.timed(query, ctx, () =>
      this.storage.client.command({
        query,
        query_params: { db: this.database, ...query_params },
        query_id: this.queryId(ctx),
        abort_signal: ctx.signal,
        clickhouse_settings: this.settings(extra),
      }),
    );
  }

  async insert(table: string, values: readonly object[], ctx: QueryContext, extra?: ClickHouseSettings): Promise<void> {
    if (values.length === 0) return;
    await this.timed(`INSERT INTO ${table}`, ctx, () =>
      this.storage.client.insert({
        table: `${this.database}.${table}`,
        values: values as object[],
        format: 'JSONEachRow',
        query_id: this.queryId(ctx),
        abort_signal: ctx.signal,
        clickhouse_settings: this.settings({ wait_end_of_query: 1, ...extra }),
      }),
    );
  }
}
