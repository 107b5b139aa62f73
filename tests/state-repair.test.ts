import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { customerActivity, kpiPairs, referralState } from './helpers/states.js';
import { startTestService, type TestService } from './helpers/service.js';

// A storage error in the middle of an ingest, on the real engine: a constraint on the customer
// state makes the view's insert fail after the raw part of the same insert is stored, as a full
// disk or a crash does. The service must say it is not ready and refuse writes while the state
// cannot be repaired, and once the store accepts writes again ("space freed") a re-send must
// leave every state equal to the raw tables.

const DATABASE = 't_state_repair';
const ctx = { requestId: 'state-repair-test' };
let svc: TestService;

const purchase = (id: string, customer: string, at: string, amount: string) => ({ type: 'purchase', eventId: id, customerId: customer, occurredAt: at, amount, currency: 'USD' });
const referral = (id: string, ref: string, stage: string, at: string, who?: string) => ({
  type: 'referral',
  eventId: id,
  referralId: ref,
  referrerId: 'x',
  stage,
  occurredAt: at,
  ...(who ? { referredCustomerId: who } : {}),
});

const batchA = [
  ...Array.from({ length: 40 }, (_, i) => purchase(`a${i}`, `c${i % 13}`, `2024-0${1 + (i % 6)}-0${1 + (i % 9)}T10:00:00Z`, `${i}.25`)),
  referral('ra1', 'ref1', 'INVITED', '2024-01-01T00:00:00Z'),
];
const batchB = [
  ...Array.from({ length: 30 }, (_, i) => purchase(`b${i}`, `c${(i * 5) % 17}`, `2024-0${1 + (i % 7)}-1${i % 9}T08:00:00Z`, `${i}.5`)),
  purchase('b-poison', 'poison', '2024-03-03T00:00:00Z', '1'),
  referral('rb1', 'ref1', 'SIGNED_UP', '2024-01-05T00:00:00Z', 'c1'),
];
const batchC = Array.from({ length: 10 }, (_, i) => purchase(`c${i}`, `d${i}`, '2024-08-01T00:00:00Z', '3'));

const post = async (events: object[]) => {
  const res = await fetch(`${svc.url}/v1/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-ndjson' },
    body: events.map((e) => JSON.stringify(e)).join('\n') + '\n',
  });
  return { status: res.status, body: (await res.json()) as { accepted?: number; duplicates?: number; error?: { code: string } } };
};
const readyz = async () => {
  const res = await fetch(`${svc.url}/readyz`);
  return { status: res.status, body: (await res.json()) as { status: string; reason?: string; stateCheck?: { ok: boolean; repaired: Record<string, number[]> } } };
};
const rows = <T>(query: string) => svc.exec.rows<T>({ query, query_params: {} }, ctx);

beforeAll(async () => {
  // Acknowledged after the inserts (INGEST_LOG=off), so a failed insert is the request's answer;
  // with the ingest log the writer acknowledges first and retries the inserts itself
  // (tests/ack-log.test.ts).
  svc = await startTestService(DATABASE, { INGEST_LOG: 'off' });
});
afterAll(async () => {
  await svc?.stop();
});

describe('a storage error between the raw part and the view part', () => {
  it('refuses writes and is not ready until the states are repaired, then re-sending leaves every state exact', async () => {
    expect((await post(batchA)).body).toMatchObject({ accepted: batchA.length, duplicates: 0 });
    expect((await readyz()).status).toBe(200);

    await svc.exec.command("ALTER TABLE {db:Identifier}.customer_activity ADD CONSTRAINT poison CHECK customer_id != 'poison'", ctx);
    const failed = await post(batchB);
    expect(failed.status).toBe(503);
    expect(failed.body.error?.code).toBe('STORAGE_ERROR');
    // The raw part of the failed insert is stored: a plain re-send would call it duplicates.
    const [stored] = await rows<{ n: number }>(`SELECT count() AS n FROM ${DATABASE}.purchases WHERE event_id LIKE 'b%'`);
    expect(stored!.n).toBe(31);
    const notReady = await readyz();
    expect(notReady.status).toBe(503);
    expect(notReady.body.reason).toMatch(/insert into purchases failed.*repair of the pre-aggregated states failed/);
    // While the state still cannot be written, nothing else is stored either.
    expect((await post(batchC)).status).toBe(503);
    const [none] = await rows<{ n: number }>(`SELECT count() AS n FROM ${DATABASE}.purchases WHERE customer_id LIKE 'd%'`);
    expect(none!.n).toBe(0);

    await svc.exec.command('ALTER TABLE {db:Identifier}.customer_activity DROP CONSTRAINT poison', ctx);
    // The purchases were stored; the referral, inserted after them, never was.
    expect((await post(batchB)).body).toMatchObject({ accepted: 1, duplicates: batchB.length - 1 });
    expect((await post(batchC)).body).toMatchObject({ accepted: batchC.length, duplicates: 0 });

    const ready = await readyz();
    expect(ready.status).toBe(200);
    expect(ready.body.stateCheck?.ok).toBe(true);
    // The partitions rebuilt are those of batch B's customers (asked of the engine), no others:
    // some by the attempts that failed at the poisoned partition, the rest once it was freed.
    const customers = [...new Set(batchB.filter((e) => e.type === 'purchase').map((e) => (e as { customerId: string }).customerId))];
    const [{ parts }] = (await rows<{ parts: number[] }>(
      `SELECT arraySort(groupUniqArray(toUInt8(cityHash64(c) % 8))) AS parts FROM (SELECT arrayJoin([${customers.map((c) => `'${c}'`).join(',')}]) AS c)`,
    )) as [{ parts: number[] }];
    expect(parts).toEqual(expect.arrayContaining(ready.body.stateCheck!.repaired.customer_activity!));
    const metrics = await (await fetch(`${svc.url}/metrics`)).text();
    expect(metrics).toContain(`kpi_state_repairs_total{table="customer_activity"} ${parts.length}`);

    const a = await customerActivity(rows, DATABASE);
    expect(a.state).toEqual(a.raw);
    expect(Object.keys(a.raw)).toContain('poison');
    const r = await referralState(rows, DATABASE);
    expect(r.state).toEqual(r.raw);
    for (const [name, build] of kpiPairs(new Date('2024-01-01T00:00:00Z'), new Date('2025-01-01T00:00:00Z'), new Date('2025-01-01T00:00:00Z'))) {
      const [auto, raw] = await Promise.all([svc.exec.rows(build('auto'), ctx), svc.exec.rows(build('raw'), ctx)]);
      expect(auto, name).toEqual(raw);
    }
  });

  it('answers verify-state through the admin route, and refuses an unknown repair mode', async () => {
    const res = await fetch(`${svc.url}/v1/admin/verify-state?repair=none`, { method: 'POST' });
    expect(res.status).toBe(200);
    const { states } = (await res.json()) as { states: { table: string; ok: boolean; repaired: number[] }[] };
    expect(states.map((s) => [s.table, s.ok, s.repaired.length])).toEqual([
      ['customer_activity', true, 0],
      ['referral_state', true, 0],
      ['refund_orders', true, 0],
    ]);
    const bad = await fetch(`${svc.url}/v1/admin/verify-state?repair=some`, { method: 'POST' });
    expect(bad.status).toBe(400);
  });
});
