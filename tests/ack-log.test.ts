import type { ClickHouseClient } from '@clickhouse/client';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACK_LOG_FILE, AckLog, AckLogDamagedError, type LoggedRow } from '../server/ingest/ack-log.js';
import { validateEvent, type StoredEvent } from '../server/ingest/validate.js';
import { EventWriter } from '../server/ingest/writer.js';
import { StorageUnavailableError } from '../server/storage/errors.js';
import { Executor } from '../server/storage/executor.js';
import { faultyClient } from './helpers/faulty-client.js';
import { startTestService, workerDataDir, type TestService } from './helpers/service.js';

// The writer's durable log (INGEST_LOG, docs/architecture.md "Acknowledged before the views"):
// the file itself, then the writer on the real embedded engine acknowledging from it, applying
// behind the acknowledgement, failing and retrying, and applying what a crash left.

const ctx = { requestId: 'ack-log-test' };
const dirs: string[] = [];
const freshDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'kpi-ack-log-'));
  dirs.push(dir);
  return dir;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const row = (id: string): LoggedRow => ({ event_id: id, customer_id: 'c', occurred_at: '2024-05-01 00:00:00.000', amount: '1', currency: 'USD', order_id: null, channel: null });

describe('AckLog', () => {
  it('gives back the groups without an applied mark, in order, and numbers new ones after the last', async () => {
    const dir = freshDir();
    const { log } = await AckLog.open(dir);
    for (const id of ['a', 'b', 'c']) await log.append({ purchases: [row(id)] });
    await log.applied([1, 3]);
    await log.close();
    const again = await AckLog.open(dir);
    expect(again.unapplied).toEqual([{ seq: 2, rows: { purchases: [row('b')] } }]);
    expect((await again.log.append({ purchases: [row('d')] })).seq).toBe(4);
    await again.log.close();
  });

  it('cuts off a torn last line (its write never returned, so it was never acknowledged)', async () => {
    const dir = freshDir();
    const { log } = await AckLog.open(dir);
    await log.append({ purchases: [row('a')] });
    await log.close();
    const file = join(dir, ACK_LOG_FILE);
    const whole = statSync(file).size;
    appendFileSync(file, '{"seq":2,"rows":{"purchases":[{"event_id":"b"');
    const again = await AckLog.open(dir);
    expect(again.unapplied.map((g) => g.seq)).toEqual([1]);
    expect(statSync(file).size).toBe(whole);
    await again.log.append({ purchases: [row('c')] });
    await again.log.close();
    expect(readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l).seq)).toEqual([1, 2]);
  });

  it('refuses to open a file damaged in the middle, naming the line', async () => {
    const dir = freshDir();
    writeFileSync(join(dir, ACK_LOG_FILE), `${JSON.stringify({ seq: 1, rows: {} })}\nnot json\n${JSON.stringify({ applied: 1 })}\n`);
    const opened = AckLog.open(dir);
    await expect(opened).rejects.toBeInstanceOf(AckLogDamagedError);
    await expect(opened).rejects.toThrow(/groups\.ndjson line 2 is not a group of the ingest log/);
  });

  it('starts the file over once nothing is left to apply and it passed its size', async () => {
    const dir = freshDir();
    const { log } = await AckLog.open(dir, { compactBytes: 1 });
    await log.append({ purchases: [row('a')] });
    // group 1 is outstanding: nothing is cut
    await log.append({ purchases: [row('b')] });
    await log.applied([1, 2]);
    await log.append({ purchases: [row('c')] });
    const line = `${JSON.stringify({ seq: 3, rows: { purchases: [row('c')] } })}\n`;
    expect(log.bytes).toBe(Buffer.byteLength(line));
    await log.close();
    expect(readFileSync(join(dir, ACK_LOG_FILE), 'utf8')).toBe(line);
  });

  it('rewrites a large file that is mostly applied with the groups still to apply, which a start then finds', async () => {
    const dir = freshDir();
    const { log } = await AckLog.open(dir, { compactBytes: 1 });
    for (const id of ['a', 'b', 'c']) await log.append({ purchases: [row(id)] });
    await log.applied([1, 2]);
    // Group 3 is outstanding, and the file is mostly applied groups and marks: it starts over with group 3.
    await log.append({ purchases: [row('d')] });
    await log.close();
    expect(readFileSync(join(dir, ACK_LOG_FILE), 'utf8')).toBe(
      `${JSON.stringify({ seq: 3, rows: { purchases: [row('c')] } })}\n${JSON.stringify({ seq: 4, rows: { purchases: [row('d')] } })}\n`,
    );
    const again = await AckLog.open(dir);
    expect(again.unapplied.map((g) => g.seq)).toEqual([3, 4]);
    await again.log.close();
  });
});

function purchase(id: string): StoredEvent {
  const r = validateEvent({ type: 'purchase', eventId: id, customerId: 'log-c', occurredAt: '2024-05-01T00:00:00Z', amount: '10', currency: 'USD' });
  if (!r.ok) throw new Error(r.errors.join('; '));
  return r.event;
}

describe('EventWriter with a log', () => {
  let svc: TestService;
  let exec: Executor;
  /** While set, every insert of events is refused as a lost connection would be. */
  let refuse = false;
  let inserts = 0;

  beforeAll(async () => {
    svc = await startTestService('t_ack_log');
    const faulty = (real: ClickHouseClient) => faultyClient(real, () => (refuse ? 'refused' : undefined), () => inserts++);
    exec = new Executor({ ...svc.exec.storage, client: faulty(svc.exec.storage.client), ingestClient: faulty(svc.exec.storage.ingestClient), applyClient: faulty(svc.exec.storage.applyClient) }, { maxExecutionTimeS: 10, maxMemoryBytes: 1e9, maxRetries: 0 }, pino({ level: 'silent' }));
  });
  afterAll(async () => {
    await svc?.stop();
  });

  const stored = async (prefix: string) =>
    (
      await svc.exec.rows<{ event_id: string; n: number }>(
        { query: 'SELECT event_id, count() AS n FROM {db:Identifier}.purchases WHERE startsWith(event_id, {p:String}) GROUP BY event_id ORDER BY event_id', query_params: { p: prefix } },
        ctx,
      )
    ).map((r) => [r.event_id, r.n]);

  /** A writer over a fresh log, its reads behind its barrier, as the service wires it. */
  const writerWithLog = async (dir = freshDir()) => {
    const log = await AckLog.open(dir);
    const writer = new EventWriter(exec, { log, applyBackoffMs: 1 });
    exec.readBarrier = (c) => writer.visible(c);
    return { writer, dir };
  };

  it('acknowledges from the log, and a read right after sees the events', async () => {
    const { writer, dir } = await writerWithLog();
    expect(await writer.write([purchase('v-1'), purchase('v-2')], ctx)).toEqual({ accepted: 2, duplicates: new Set(), erased: new Set() });
    // Through the writer's executor: the read waits for the group to be applied.
    const rows = await exec.rows<{ n: number }>({ query: "SELECT count() AS n FROM {db:Identifier}.purchases WHERE startsWith(event_id, 'v-')", query_params: {} }, { requestId: 'reader' });
    expect(rows).toEqual([{ n: 2 }]);
    await writer.close();
    const lines = readFileSync(join(dir, ACK_LOG_FILE), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toEqual([{ seq: 1, rows: { purchases: [expect.objectContaining({ event_id: 'v-1' }), expect.objectContaining({ event_id: 'v-2' })] } }, { applied: 1 }]);
  });

  it('keeps acknowledging while the tables refuse inserts, counts re-sends as duplicates, and stores each event once when they recover', async () => {
    const { writer } = await writerWithLog();
    refuse = true;
    expect(await writer.write([purchase('f-1')], ctx)).toEqual({ accepted: 1, duplicates: new Set(), erased: new Set() });
    // A read cannot see f-1 yet: it is refused rather than answered without it.
    await expect(writer.visible(ctx)).rejects.toBeInstanceOf(StorageUnavailableError);
    expect(writer.health().problem).toMatch(/^1 acknowledged events wait in the ingest log to be stored: .*; retrying$/);
    // Logged, not yet stored: a re-send is a duplicate, and new events are still acknowledged.
    expect(await writer.write([purchase('f-1'), purchase('f-2')], ctx)).toEqual({ accepted: 1, duplicates: new Set([0]), erased: new Set() });
    expect(await stored('f-')).toEqual([]);
    const before = inserts;
    refuse = false;
    // The applier retries on its own; wait for it without a clock, by its outcome.
    for (;;) {
      const ok = await Promise.resolve(writer.visible(ctx)).then(() => true, () => false);
      if (ok) break;
      await new Promise((r) => setImmediate(r));
    }
    expect(inserts).toBeGreaterThan(before);
    expect(await stored('f-')).toEqual([['f-1', 1], ['f-2', 1]]);
    expect(writer.health().problem).toBeUndefined();
    await writer.close();
  });

  it('applies at start what a crash left in the log, each row once, rows that had landed included', async () => {
    const dir = freshDir();
    const crashed = await AckLog.open(dir);
    await crashed.log.append({ purchases: [row('r-1'), row('r-2')] });
    await crashed.log.append({ purchases: [row('r-3')] });
    // r-1 reached the table before the crash; neither group was marked applied.
    await exec.insert('purchases', [row('r-1')], { ...ctx, urgent: true });
    await crashed.log.close();
    const { writer } = await writerWithLog(dir);
    await writer.visible(ctx);
    expect(await stored('r-')).toEqual([['r-1', 1], ['r-2', 1], ['r-3', 1]]);
    // A re-send of a replayed event is a duplicate.
    expect(await writer.write([purchase('r-2')], ctx)).toEqual({ accepted: 0, duplicates: new Set([0]), erased: new Set() });
    await writer.close();
    const reopened = await AckLog.open(dir);
    expect(reopened.unapplied).toEqual([]);
    await reopened.log.close();
  });
});

describe('the service and its ingest log', () => {
  it('stores at start what the log still holds, and will not start with the log turned off while it holds some', async () => {
    const database = 't_ack_log_start';
    const dir = join(workerDataDir(), 'ingest-log', database);
    const crashed = await AckLog.open(dir);
    await crashed.log.append({ purchases: [row('s-1')] });
    await crashed.log.close();
    await expect(startTestService(database, { INGEST_LOG: 'off' })).rejects.toThrow(
      /groups\.ndjson holds 1 acknowledged groups of events not yet stored, and INGEST_LOG is off: start once with INGEST_LOG on to store them, then turn it off$/,
    );
    const svc = await startTestService(database);
    try {
      const [stored] = await svc.exec.rows<{ n: number }>({ query: "SELECT count() AS n FROM {db:Identifier}.purchases WHERE event_id = 's-1'", query_params: {} }, ctx);
      expect(stored!.n).toBe(1);
    } finally {
      await svc.stop();
    }
    const after = await AckLog.open(dir);
    expect(after.unapplied).toEqual([]);
    await after.log.close();
  });
});
