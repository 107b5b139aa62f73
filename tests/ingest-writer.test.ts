import type { ClickHouseClient } from '@clickhouse/client';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StorageUnavailableError } from '../server/storage/errors.js';
import { Executor } from '../server/storage/executor.js';
import { TABLE_OF, validateEvent, type StoredEvent } from '../server/ingest/validate.js';
import { EventWriter, storedIdsSql } from '../server/ingest/writer.js';
import { faultyClient, type Fault } from './helpers/faulty-client.js';
import { startTestService, type TestService } from './helpers/service.js';

// The EventWriter on the real embedded engine. For the insert retries, the engine's client
// loses chosen inserts the way a socket does in server mode (helpers/faulty-client.ts).

const ctx = { requestId: 'writer-test' };

function purchase(id: string, customer = 'w-c1', amount = '10'): StoredEvent {
  const r = validateEvent({ type: 'purchase', eventId: id, customerId: customer, occurredAt: '2024-05-01T00:00:00Z', amount, currency: 'USD' });
  if (!r.ok) throw new Error(r.errors.join('; '));
  return r.event;
}

describe('EventWriter', () => {
  let svc: TestService;
  const faults: Fault[] = [];
  let exec: Executor;
  let inserts = 0;

  beforeAll(async () => {
    svc = await startTestService('t_ingest_writer');
    // Both sessions: the writer's inserts go to the ingest one (Storage.ingestClient).
    const faulty = (real: ClickHouseClient) => faultyClient(real, () => faults.shift(), () => inserts++);
    exec = new Executor({ ...svc.exec.storage, client: faulty(svc.exec.storage.client), ingestClient: faulty(svc.exec.storage.ingestClient) }, { maxExecutionTimeS: 10, maxMemoryBytes: 1e9, maxRetries: 2 }, pino({ level: 'silent' }));
  });
  afterAll(async () => {
    await svc?.stop();
  });

  const stored = (prefix: string) =>
    svc.exec.rows<{ event_id: string; customer_id: string; n: number }>(
      {
        query: 'SELECT event_id, any(customer_id) AS customer_id, count() AS n FROM {db:Identifier}.purchases WHERE startsWith(event_id, {p:String}) GROUP BY event_id ORDER BY event_id',
        query_params: { p: prefix },
      },
      ctx,
    );

  it('after a lost response, finds the rows that landed and stores nothing twice', async () => {
    const writer = new EventWriter(exec);
    faults.push('lost-response');
    const before = inserts;
    const result = await writer.write([purchase('lr-1'), purchase('lr-2'), purchase('lr-3')], ctx);
    expect(result).toEqual({ accepted: 3, duplicates: new Set(), erased: new Set() });
    // the one insert landed; the re-check found all three, so none was sent again
    expect(inserts - before).toBe(1);
    expect((await stored('lr-')).map((r) => [r.event_id, r.n])).toEqual([['lr-1', 1], ['lr-2', 1], ['lr-3', 1]]);
    // The lost statement's view part may be missing: the states are checked before the next write.
    expect(writer.health().problem).toMatch(/^an insert into purchases failed \(request writer-test\); the pre-aggregated states are repaired before the next write$/);
    expect(await writer.write([purchase('lr-4')], ctx)).toEqual({ accepted: 1, duplicates: new Set(), erased: new Set() });
    expect(writer.health()).toMatchObject({ problem: undefined, lastCheck: { trigger: 'after a failed write', ok: true, repaired: {} } });
  });

  it('after a refused connection, inserts the rows again', async () => {
    const writer = new EventWriter(exec);
    faults.push('refused', 'refused');
    const before = inserts;
    expect(await writer.write([purchase('rf-1'), purchase('rf-2')], ctx)).toEqual({ accepted: 2, duplicates: new Set(), erased: new Set() });
    expect(inserts - before).toBe(3);
    expect((await stored('rf-')).map((r) => [r.event_id, r.n])).toEqual([['rf-1', 1], ['rf-2', 1]]);
  });

  it('fails the write once CLICKHOUSE_MAX_RETRIES retries are used up', async () => {
    const writer = new EventWriter(exec);
    faults.push('refused', 'refused', 'refused');
    await expect(writer.write([purchase('ex-1')], ctx)).rejects.toBeInstanceOf(StorageUnavailableError);
    expect(await stored('ex-')).toEqual([]);
    // the queue survives a failed group
    expect(await writer.write([purchase('ex-1')], ctx)).toEqual({ accepted: 1, duplicates: new Set(), erased: new Set() });
  });

  it('treats a retry whose other fields differ as a duplicate: the first stored version wins', async () => {
    const writer = new EventWriter(exec);
    expect(await writer.write([purchase('fv-1', 'first-customer', '1')], ctx)).toEqual({ accepted: 1, duplicates: new Set(), erased: new Set() });
    expect(await writer.write([purchase('fv-1', 'other-customer', '2')], ctx)).toEqual({ accepted: 0, duplicates: new Set([0]), erased: new Set() });
    expect(await stored('fv-')).toEqual([{ event_id: 'fv-1', customer_id: 'first-customer', n: 1 }]);
  });

  it("looks up a batch's eventIds through each table's bloom filter, not by reading every granule", async () => {
    // Four granules of 8192 purchases (one part); the look-up of one stored id and one new id
    // may read the granule that holds the first and nothing else (a false positive is 1 in 10 000).
    await svc.exec.command(
      `INSERT INTO {db:Identifier}.purchases (event_id, customer_id, occurred_at, amount, currency)
       SELECT concat('bf-', toString(number)), concat('bf-c', toString(number % 997)), toDateTime64('2021-03-01 00:00:00', 3, 'UTC') + number, 1, 'USD' FROM numbers(4 * 8192)`,
      ctx,
    );
    const q = { query: storedIdsSql(['purchases'], () => '{ids:Array(String)}'), query_params: { ids: ['bf-12345', 'bf-new'] } };
    expect(await svc.exec.rows(q, ctx)).toEqual([{ t: 'purchases', event_id: 'bf-12345' }]);
    const plan = (await svc.exec.rows<{ explain: string }>({ ...q, query: `EXPLAIN indexes = 1 ${q.query}` }, ctx)).map((r) => r.explain.trim());
    const skip = plan.indexOf('Name: event_id_bloom');
    expect(skip).toBeGreaterThan(0);
    // The granules the bloom filter keeps of those it was given, in the 2021 part alone.
    const [, kept, of] = /^Granules: (\d+)\/(\d+)$/.exec(plan.slice(skip).find((l) => l.startsWith('Granules:'))!)!.map(Number);
    expect(of).toBe(4);
    expect(kept).toBe(1);
    // Every table the writer stores into has one.
    const indexed = await svc.exec.rows<{ table: string }>(
      { query: "SELECT table FROM system.data_skipping_indices WHERE database = {db:String} AND name = 'event_id_bloom' AND expr = 'event_id' ORDER BY table", query_params: {} },
      ctx,
    );
    expect(indexed.map((r) => r.table)).toEqual([...new Set(Object.values(TABLE_OF))].sort());
    // A bulk load's look-up (past 2 000 ids the filters are not used) finds the stored ones just the same.
    const bulk = Array.from({ length: 2500 }, (_, i) => purchase(i < 2 ? `bf-${i * 100}` : `bf-bulk-${i}`));
    const result = await new EventWriter(exec).write(bulk, ctx);
    expect(result).toEqual({ accepted: 2498, duplicates: new Set([0, 1]), erased: new Set() });
  });

  it('stores writes that queued up meanwhile as one group, in arrival order', async () => {
    const writer = new EventWriter(exec);
    const before = inserts;
    const [a, b, c] = await Promise.all([
      writer.write([purchase('gc-1'), purchase('gc-2')], ctx),
      writer.write([purchase('gc-2', 'later'), purchase('gc-3')], ctx),
      writer.write([purchase('gc-3', 'later'), purchase('gc-4'), purchase('gc-4')], ctx),
    ]);
    expect(a).toEqual({ accepted: 2, duplicates: new Set(), erased: new Set() });
    expect(b).toEqual({ accepted: 1, duplicates: new Set([0]), erased: new Set() });
    expect(c).toEqual({ accepted: 1, duplicates: new Set([0, 2]), erased: new Set() });
    // the first write alone, then the two that waited for it together
    expect(inserts - before).toBe(2);
    expect((await stored('gc-')).map((r) => [r.event_id, r.customer_id, r.n])).toEqual([
      ['gc-1', 'w-c1', 1],
      ['gc-2', 'w-c1', 1],
      ['gc-3', 'w-c1', 1],
      ['gc-4', 'w-c1', 1],
    ]);
  });
});
