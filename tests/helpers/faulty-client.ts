import type { ClickHouseClient } from '@clickhouse/client';

/** How an insert fails: before the statement reached the engine (refused), or after it stored the rows (the response was lost). */
export type Fault = 'refused' | 'lost-response';

/**
 * The engine's client with chosen inserts of events failing the way a socket does in server
 * mode: `next` names the fault of each insert (undefined: none), `onInsert` counts them. The
 * embedded engine has no socket to break; the executor-level retries are tested on a real
 * socket in storage-retry.test.ts.
 */
export function faultyClient(real: ClickHouseClient, next: () => Fault | undefined, onInsert: () => void = () => undefined): ClickHouseClient {
  return new Proxy(real, {
    get(target, prop) {
      if (prop !== 'insert') return Reflect.get(target, prop, target);
      return async (params: Parameters<typeof real.insert>[0]) => {
        // The eventId look-up's temporary table (Executor.rowsWithLists) has no database: not an insert of events.
        if (!params.table.includes('.')) return target.insert(params);
        onInsert();
        const fault = next();
        if (fault === 'refused') throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8123'), { code: 'ECONNREFUSED' });
        const result = await target.insert(params);
        if (fault === 'lost-response') throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
        return result;
      };
    },
  });
}
