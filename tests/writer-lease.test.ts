import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createKpiClient, IngestPurchasesDocument, KpiClientError, RepeatPurchaseRateDocument } from '../client/index.js';
import { startService, type Service } from '../server/service.js';
import { NotLeaseHolderError } from '../server/storage/errors.js';
import { WriterLease, type LeaseIdentity } from '../server/storage/lease.js';
import { FakeClock } from './helpers/fake-clock.js';
import { startTestService, testConfig, type TestService } from './helpers/service.js';

const T0 = '2026-01-10T12:00:00.000Z';
const at = (offsetS: number) => new Date(Date.parse(T0) + offsetS * 1000).toISOString();

/** Two processes as the lease table names them: fixed ids, so messages can be checked whole. */
const A: LeaseIdentity = { id: 'host-a/101/2026-01-10T11:00:00.000Z/aaaa', host: 'host-a', pid: 101, startedAt: new Date('2026-01-10T11:00:00Z') };
const B: LeaseIdentity = { id: 'host-b/202/2026-01-10T11:30:00.000Z/bbbb', host: 'host-b', pid: 202, startedAt: new Date('2026-01-10T11:30:00Z') };

function refusal(lease: WriterLease): string {
  try {
    lease.check('req-1');
  } catch (e) {
    expect(e).toBeInstanceOf(NotLeaseHolderError);
    expect((e as NotLeaseHolderError).code).toBe('NOT_LEASE_HOLDER');
    return (e as Error).message;
  }
  throw new Error('expected the lease to refuse');
}

describe('writer lease on one database (two processes, one engine)', () => {
  let svc: TestService;
  let clock: FakeClock;
  beforeAll(async () => {
    svc = await startTestService('t_writer_lease');
  });
  afterAll(async () => {
    await svc?.stop();
  });
  beforeEach(async () => {
    await svc.exec.command('TRUNCATE TABLE {db:Identifier}.writer_lease', { requestId: 'test' });
    clock = new FakeClock(Date.parse(T0));
  });
  // TTL 30 s, renewed every 10 s: a holder writes until 20 s after its last renewal.
  const lease = (identity: LeaseIdentity) => new WriterLease(svc.exec, { ttlMs: 30_000, renewMs: 10_000, clock, identity, replicated: false });

  it('lets the first process hold it and refuses the second, naming the holder', async () => {
    const a = lease(A);
    const b = lease(B);
    await a.start();
    await b.start();
    expect(a.holding).toBe(true);
    expect(() => a.check('req-1')).not.toThrow();
    expect(b.holding).toBe(false);
    expect(refusal(b)).toBe(
      'This instance may not write now: the writer lease of this database is held by pid 101 on host-a ' +
        '(holder host-a/101/2026-01-10T11:00:00.000Z/aaaa, term 1, last heartbeat 2026-01-10T12:00:00.000Z, lease until 2026-01-10T12:00:30.000Z). ' +
        'Send writes to the holder, or re-send once the lease has expired and this instance has taken over.',
    );
    await a.stop();
    await b.stop();
  });

  it('is renewed every period, so the second process never takes over while the holder lives', async () => {
    const a = lease(A);
    const b = lease(B);
    await a.start();
    await b.start();
    for (const s of [10, 20, 30, 40, 50, 60]) {
      clock.set(at(s));
      await Promise.all([a.settled(), b.settled()]);
    }
    expect(clock.fired).toBe(12);
    const current = await a.current();
    expect(current).toMatchObject({ term: 1, holder: A.id, heartbeatAt: new Date(at(60)), expiresAt: new Date(at(90)) });
    expect(a.holding).toBe(true);
    // b's timer read the lease together with a's renewal, so it may have seen the one before: ask again.
    await b.attempt();
    expect(refusal(b)).toContain('held by pid 101 on host-a (holder host-a/101/2026-01-10T11:00:00.000Z/aaaa, term 1, last heartbeat 2026-01-10T12:01:00.000Z, lease until 2026-01-10T12:01:30.000Z)');
    await a.stop();
    await b.stop();
  });

  it('stops the holder one period before expiry when it cannot renew, and lets the other take over only after expiry', async () => {
    // Neither is started: each attempt is driven by hand, and `a` never renews (a process that hangs).
    const a = lease(A);
    const b = lease(B);
    await a.attempt();
    clock.set(at(19.999));
    expect(a.holding).toBe(true);
    clock.set(at(20));
    expect(a.holding).toBe(false);
    expect(refusal(a)).toBe(
      "This instance may not write now: this instance's writer lease was not renewed in time. Send writes to the holder, or re-send once the lease has expired and this instance has taken over.",
    );
    let taken = 0;
    b.onAcquired(() => taken++);
    clock.set(at(29.999));
    await b.attempt();
    expect(b.holding).toBe(false);
    expect(refusal(b)).toContain('held by pid 101 on host-a');
    clock.set(at(30));
    await b.attempt();
    expect(b.holding).toBe(true);
    expect(await b.current()).toMatchObject({ term: 2, holder: B.id, expiresAt: new Date(at(60)) });
    clock.set(at(40));
    await b.attempt();
    expect(taken).toBe(1);
    // The old holder learns it lost at its next attempt, and names the new one.
    await a.attempt();
    expect(a.holding).toBe(false);
    expect(refusal(a)).toContain('held by pid 202 on host-b (holder host-b/202/2026-01-10T11:30:00.000Z/bbbb, term 2');
  });

  it('gives a term to exactly one of two processes claiming it at once', async () => {
    const a = lease(A);
    const b = lease(B);
    for (let round = 1; round <= 5; round++) {
      // Each round starts with an expired lease (or none): both claim term `round` together.
      clock.set(at(round * 100));
      await Promise.all([a.attempt(), b.attempt()]);
      const winner = await a.current();
      expect(winner?.term).toBe(round);
      const [held, lost] = winner?.holder === A.id ? [a, b] : [b, a];
      expect(held.holding).toBe(true);
      expect(lost.holding).toBe(false);
      expect(refusal(lost)).toContain(`(holder ${winner!.holder}, term ${round},`);
      const [row] = await svc.exec.rows<{ rows: number }>(
        { query: 'SELECT count() AS rows FROM {db:Identifier}.writer_lease WHERE term = {term:UInt64}', query_params: { term: round } },
        { requestId: 'test' },
      );
      expect(row?.rows).toBe(1);
    }
  });

  it('keeps a term whose claim was stored though its answer was lost', async () => {
    // The same process twice: the second object knows nothing of the claim the first one stored.
    await lease(A).attempt();
    const again = lease(A);
    await again.attempt();
    expect(again.holding).toBe(true);
    expect(await again.current()).toMatchObject({ term: 1, holder: A.id });
  });

  it('hands over at once when the holder stops cleanly', async () => {
    const a = lease(A);
    const b = lease(B);
    await a.start();
    await b.start();
    clock.set(at(5));
    await a.stop();
    expect(a.holding).toBe(false);
    // b's next attempt (its timer, 10 s after its start) takes over, well before the old expiry at 30 s.
    clock.set(at(10));
    await b.settled();
    expect(b.holding).toBe(true);
    expect(await b.current()).toMatchObject({ term: 2, holder: B.id });
    await b.stop();
  });
});

describe('INGEST=off: a read replica', () => {
  let svc: Service;
  const clock = new FakeClock(Date.parse('2024-02-15T00:00:00Z'));
  /** Resolves with the first log line of that message: the scheduler reports what it did. */
  const logged = new Map<string, (line: Record<string, unknown>) => void>();
  const log = pino({ level: 'info' }, { write: (text: string) => void logged.get(JSON.parse(text).msg)?.(JSON.parse(text)) });
  const nextLine = (msg: string) => new Promise<Record<string, unknown>>((resolve) => logged.set(msg, resolve));
  beforeAll(async () => {
    svc = await startService(testConfig('t_ingest_off', { INGEST: 'off', SNAPSHOT_SCHEDULE: 'monthly=last-month@monthly' }), log, { clock });
  });
  afterAll(async () => {
    await svc?.stop();
  });

  const MESSAGE = 'This instance is a read replica (INGEST=off): it stores no events. Send writes to the instance that holds the writer lease.';

  it('answers POST /v1/events with 403 INGEST_DISABLED before reading the body', async () => {
    const res = await fetch(`${svc.url}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-ndjson', 'x-request-id': 'r-off-1' },
      body: JSON.stringify({ type: 'purchase', eventId: 'o-1', customerId: 'c-1', occurredAt: '2024-03-01T09:30:00Z', amount: '49.90', currency: 'EUR' }),
    });
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual({ error: { code: 'INGEST_DISABLED', message: MESSAGE, requestId: 'r-off-1' } });
  });

  it('refuses the ingest mutations with the same code, and still answers queries', async () => {
    const client = createKpiClient({ url: `${svc.url}/graphql` });
    const error = await client
      .request(IngestPurchasesDocument, { events: [{ eventId: 'o-2', customerId: 'c-1', occurredAt: '2024-03-01T09:30:00Z', amount: 1, currency: 'USD' }] })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KpiClientError);
    expect(error).toMatchObject({ code: 'INGEST_DISABLED', message: `INGEST_DISABLED: ${MESSAGE}` });
    const { repeatPurchaseRate } = await client.request(RepeatPurchaseRateDocument, { from: '2024-01-01T00:00:00Z', to: '2024-04-01T00:00:00Z' });
    expect(repeatPurchaseRate.customers).toBe(0);
  });

  it('refuses a state repair, stores nothing, and says so in /metrics', async () => {
    const repair = await fetch(`${svc.url}/v1/admin/verify-state?repair=mismatched`, { method: 'POST' });
    expect(repair.status).toBe(403);
    expect((await repair.json()).error.code).toBe('INGEST_DISABLED');
    const [stored] = await svc.exec.rows<{ n: number }>(
      { query: 'SELECT (SELECT count() FROM {db:Identifier}.purchases) + (SELECT count() FROM {db:Identifier}.writer_lease) AS n', query_params: {} },
      { requestId: 'test' },
    );
    expect(stored?.n).toBe(0);
    const text = await (await fetch(`${svc.url}/metrics`)).text();
    expect(text).toMatch(/^kpi_ingest_writer 0$/m);
  });

  it('says so in /readyz, still ready for reads', async () => {
    const res = await fetch(`${svc.url}/readyz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'ready', writer: { role: 'replica', detail: 'INGEST=off: this instance stores no events' } });
  });

  it('stores no snapshot: takeSnapshot is refused, and the schedule leaves its snapshots to the writer', async () => {
    const res = await fetch(`${svc.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: 'mutation { takeSnapshot(name: "m", from: "2024-01-01T00:00:00Z", to: "2024-02-01T00:00:00Z") { id } }' }),
    });
    expect((await res.json()).errors).toMatchObject([{ message: MESSAGE, extensions: { code: 'INGEST_DISABLED' } }]);
    const skipped = nextLine('scheduled snapshot left to the writer');
    clock.set('2024-03-01T00:00:00Z');
    expect(await skipped).toMatchObject({ snapshot: 'monthly', reason: MESSAGE });
    const [stored] = await svc.exec.rows<{ n: number }>({ query: 'SELECT count() AS n FROM {db:Identifier}.kpi_snapshots', query_params: {} }, { requestId: 'test' });
    expect(stored?.n).toBe(0);
  });
});
