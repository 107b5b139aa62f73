import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadKeyFilter, murmur3 } from '../server/ingest/key-filter.js';
import { TABLE_OF, validateEvent, type StoredEvent } from '../server/ingest/validate.js';
import { EventWriter } from '../server/ingest/writer.js';
import { startTestService, type TestService } from './helpers/service.js';

// The writer's filter of stored eventIds (server/ingest/key-filter.ts) on the real engine: the
// engine hashes what it stores, the writer what it receives, and the two must agree bit for bit;
// the filter may only ever say "maybe" to a stored key, and the writer asks the tables about
// nothing else.

const ctx = { requestId: 'key-filter-test' };
const TABLES = [...new Set(Object.values(TABLE_OF))];

function purchase(id: string): StoredEvent {
  const r = validateEvent({ type: 'purchase', eventId: id, customerId: 'kf-c', occurredAt: '2024-05-01T00:00:00Z', amount: '10', currency: 'USD' });
  if (!r.ok) throw new Error(r.errors.join('; '));
  return r.event;
}

describe('the filter of stored eventIds', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService('t_key_filter');
    // Rows stored before any writer of this test ran: 40 000 purchases and 1 000 touches.
    await svc.exec.command(
      `INSERT INTO {db:Identifier}.purchases (event_id, customer_id, occurred_at, amount, currency)
       SELECT concat('kf-', toString(number)), concat('kf-c', toString(number % 997)), toDateTime64('2022-01-01 00:00:00', 3, 'UTC') + number * 60, 1, 'USD' FROM numbers(40000)`,
      ctx,
    );
    await svc.exec.command(
      `INSERT INTO {db:Identifier}.touches (event_id, customer_id, occurred_at, campaign, stage)
       SELECT concat('kf-', toString(number)), 'kf-c', toDateTime64('2022-01-01 00:00:00', 3, 'UTC'), 'welcome', 'SENT' FROM numbers(1000)`,
      ctx,
    );
  });
  afterAll(async () => {
    await svc?.stop();
  });

  it("hashes as the engine's murmurHash3_32 does, every tail length and UTF-8 included", async () => {
    const samples = ['', 'a', 'ab', 'abc', 'abcd', 'abcde', 'abcdef', 'abcdefg', 'purchases:ev-1\n', 'é€𝄞 ünï', 'x'.repeat(1001)];
    const rows = await svc.exec.rows<{ h: number }>(
      { query: 'SELECT murmurHash3_32(s) AS h FROM (SELECT arrayJoin({s:Array(String)}) AS s) ORDER BY rowNumberInAllBlocks()', query_params: { s: samples } },
      ctx,
    );
    expect(samples.map((s) => murmur3(Buffer.from(s, 'utf8')))).toEqual(rows.map((r) => Number(r.h)));
  });

  it('holds every stored eventId of every table, and few others', async () => {
    const filter = await loadKeyFilter(svc.exec, TABLES, ctx);
    const stored = await svc.exec.rows<{ t: 'purchases' | 'touches'; id: string }>(
      { query: "SELECT 'purchases' AS t, event_id AS id FROM {db:Identifier}.purchases UNION ALL SELECT 'touches', event_id FROM {db:Identifier}.touches", query_params: {} },
      ctx,
    );
    expect(stored.length).toBe(41_000);
    expect(stored.filter((r) => !filter.mayHold(r.t, r.id))).toEqual([]);
    // The same ids in a table that does not hold them, and ids nobody stored: 8M bits for 41 000
    // keys (a 1M-key floor) make a false positive about 1 in 10^6; allow 1 in 1 000.
    const absent = [...Array.from({ length: 20_000 }, (_, i) => ['refunds', `kf-${i}`] as const), ...Array.from({ length: 20_000 }, (_, i) => ['purchases', `kf-new-${i}`] as const)];
    expect(absent.filter(([t, id]) => filter.mayHold(t, id)).length).toBeLessThan(40);
  });

  it('asks the tables only about the ids the filter may hold: none for new events, the retries for re-sent ones', async () => {
    const lookups: string[] = [];
    const unobserve = svc.exec.observe(({ query }) => {
      if (query.includes('event_id IN')) lookups.push(query);
    });
    try {
      const writer = new EventWriter(svc.exec);
      const fresh = Array.from({ length: 3000 }, (_, i) => purchase(`kf-fresh-${i}`));
      expect(await writer.write(fresh, ctx)).toEqual({ accepted: 3000, duplicates: new Set(), erased: new Set() });
      expect(lookups).toEqual([]);
      // Ten retries: five of rows stored before the writer started, five of its own.
      const mixed = [...Array.from({ length: 2990 }, (_, i) => purchase(`kf-more-${i}`)), ...[1, 2, 3, 4, 5].map((i) => purchase(`kf-${i * 1000}`)), ...[1, 2, 3, 4, 5].map((i) => purchase(`kf-fresh-${i}`))];
      expect(await writer.write(mixed, ctx)).toEqual({ accepted: 2990, duplicates: new Set([2990, 2991, 2992, 2993, 2994, 2995, 2996, 2997, 2998, 2999]), erased: new Set() });
      expect(lookups.length).toBe(1);
    } finally {
      unobserve();
    }
    const [row] = await svc.exec.rows<{ n: number; ids: number }>(
      { query: "SELECT count() AS n, uniqExact(event_id) AS ids FROM {db:Identifier}.purchases WHERE startsWith(event_id, 'kf-fresh-') OR startsWith(event_id, 'kf-more-')", query_params: {} },
      ctx,
    );
    expect(row).toEqual({ n: 5990, ids: 5990 });
  });

  it('stores an event again whose key it holds but whose row is gone (a failed insert, an erasure)', async () => {
    const writer = new EventWriter(svc.exec);
    expect(await writer.write([purchase('kf-gone')], ctx)).toEqual({ accepted: 1, duplicates: new Set(), erased: new Set() });
    await svc.exec.command("ALTER TABLE {db:Identifier}.purchases DELETE WHERE event_id = 'kf-gone'", ctx, { mutations_sync: '2' });
    expect(await writer.write([purchase('kf-gone')], ctx)).toEqual({ accepted: 1, duplicates: new Set(), erased: new Set() });
    expect(await writer.write([purchase('kf-gone')], ctx)).toEqual({ accepted: 0, duplicates: new Set([0]), erased: new Set() });
  });
});
