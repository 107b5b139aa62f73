import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../server/config.js';
import { openStorage } from '../server/storage/client.js';
import { startServiceProcess, type ServiceProcess } from '../scripts/lib/service-process.js';

// SIGKILL in the middle of a concurrent ingest, restart on the same DATA_DIR: every
// acknowledged event is stored exactly once, nothing is half-written, and re-sending the
// unacknowledged batches completes them without duplicates.

/** Client 0 sends batches above the endpoint's 20 000-event flush, so a killed one can be partly stored. */
const BATCH_SIZES = [25_000, 4_000, 4_000, 4_000];
/** Kill once this many batches were acknowledged: by then every client has one in flight. */
const KILL_AFTER_ACKS = 4;

const dataDir = mkdtempSync(join(tmpdir(), 'kpi-ingest-crash-'));
const running: ServiceProcess[] = [];
afterAll(async () => {
  for (const s of running) await s.kill();
  rmSync(dataDir, { recursive: true, force: true });
});

interface Row {
  event_id: string;
  customer_id: string;
  occurred_at: string;
  amount: string;
  currency: string;
}

/** Event i of batch b, its content derived from its id so every stored row can be checked. */
function expectedRow(b: number, i: number): Row {
  return {
    event_id: `b${b}-${i}`,
    customer_id: `c${(b * 7 + i) % 997}`,
    occurred_at: `2024-0${1 + (i % 9)}-1${i % 10} 12:00:0${i % 10}.${String(i % 1000).padStart(3, '0')}`,
    amount: `${i % 500}.${String(b % 100).padStart(2, '0')}`,
    currency: i % 3 === 0 ? 'EUR' : 'USD',
  };
}

function batchBody(b: number, size: number): string {
  const lines: string[] = [];
  for (let i = 0; i < size; i++) {
    const r = expectedRow(b, i);
    lines.push(
      JSON.stringify({
        type: 'purchase',
        eventId: r.event_id,
        customerId: r.customer_id,
        occurredAt: `${r.occurred_at.replace(' ', 'T')}Z`,
        amount: r.amount,
        currency: r.currency,
      }),
    );
  }
  return `${lines.join('\n')}\n`;
}

interface Answer {
  accepted: number;
  duplicates: number;
  rejected: unknown[];
}

async function post(url: string, body: string): Promise<{ status: number; answer: Answer }> {
  const res = await fetch(`${url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body });
  return { status: res.status, answer: (await res.json()) as Answer };
}

describe('ingestion survives SIGKILL', { timeout: 120_000 }, () => {
  it('keeps every acknowledged event exactly once and lets unacknowledged batches be re-sent', async () => {
    const first = await startServiceProcess(dataDir);
    running.push(first);
    const sizeOf = new Map<number, number>();
    const acked = new Set<number>();
    let nextBatch = 0;
    let kill: Promise<void> | undefined;
    const client = async (size: number) => {
      while (kill === undefined) {
        const b = nextBatch++;
        sizeOf.set(b, size);
        const body = batchBody(b, size);
        const result = await post(first.url, body).catch((e: unknown) => {
          // Only a connection that died with the server may go unanswered.
          if (kill === undefined) throw e;
          return undefined;
        });
        if (result !== undefined) {
          expect(result.status).toBe(200);
          expect(result.answer).toEqual({ accepted: size, duplicates: 0, rejectedCount: 0, rejected: [] });
          acked.add(b);
        }
        if (acked.size >= KILL_AFTER_ACKS) kill ??= first.kill();
      }
    };
    await Promise.all(BATCH_SIZES.map(client));
    await kill;
    const batches = [...sizeOf.keys()].sort((a, b) => a - b);
    const unacked = batches.filter((b) => !acked.has(b));
    expect(unacked.length).toBeGreaterThan(0);

    // Restart on the same directory and re-send every batch: an acknowledged batch must come
    // back as all duplicates (it is fully stored); an unacknowledged one is completed.
    const second = await startServiceProcess(dataDir);
    running.push(second);
    const storedBefore = new Map<number, number>();
    for (const b of batches) {
      const size = sizeOf.get(b)!;
      const { status, answer } = await post(second.url, batchBody(b, size));
      expect(status).toBe(200);
      expect(answer.rejected).toEqual([]);
      expect(answer.accepted + answer.duplicates).toBe(size);
      if (acked.has(b)) expect(answer.duplicates).toBe(size);
      storedBefore.set(b, answer.duplicates);
    }
    // The second copy of each batch was acknowledged; a third send must change nothing.
    const again = await post(second.url, batchBody(unacked[0]!, sizeOf.get(unacked[0]!)!));
    expect(again.answer).toEqual({ accepted: 0, duplicates: sizeOf.get(unacked[0]!), rejectedCount: 0, rejected: [] });
    await second.stop();

    // Read the raw table back with the engine itself, now that no service holds the directory.
    const storage = await openStorage(loadConfig({ DATA_DIR: dataDir }));
    try {
      const rs = await storage.client.query({
        query: `SELECT event_id, customer_id, toString(occurred_at) AS occurred_at, toString(amount) AS amount, currency
                FROM ${storage.database}.purchases`,
        format: 'JSONEachRow',
      });
      const rows = await rs.json<Row>();
      const byId = new Map<string, Row>();
      for (const r of rows) {
        expect(byId.has(r.event_id), `${r.event_id} stored twice`).toBe(false);
        byId.set(r.event_id, r);
      }
      const total = batches.reduce((s, b) => s + sizeOf.get(b)!, 0);
      expect(rows.length).toBe(total);
      for (const b of batches) {
        for (let i = 0; i < sizeOf.get(b)!; i++) {
          const want = expectedRow(b, i);
          const got = byId.get(want.event_id);
          if (got === undefined) throw new Error(`${want.event_id} (batch ${b}, acknowledged: ${acked.has(b)}) is missing`);
          // Whole rows only: every column holds what was sent.
          if (Number(got.amount) !== Number(want.amount) || got.customer_id !== want.customer_id || got.occurred_at !== want.occurred_at || got.currency !== want.currency) {
            expect(got).toEqual(want);
          }
        }
      }
      console.info(
        `crash test: ${batches.length} batches, ${acked.size} acknowledged before SIGKILL; stored before re-send of the others: ` +
          unacked.map((b) => `${storedBefore.get(b)}/${sizeOf.get(b)}`).join(', '),
      );
    } finally {
      await storage.close();
    }
  });
});
