/**
 * `npm run bench -- ingest [--events N] [--clients C] [--batch B] [--body-mb M]`
 *
 * 1. Endpoint: N generated events (scripts/generate/store.ts, every type) through
 *    `POST /v1/events` of the service in a child process, C clients sending B-event requests
 *    concurrently. Bodies are built before the clock starts; the time runs from the first
 *    request to the last answer.
 * 2. Direct: the same events, validated into rows beforehand, inserted straight into the
 *    migrated tables with `client.insert(... JSONEachRow)` in 50 000-row batches: the engine's
 *    own rate, the ceiling. It runs in a separate process on a fresh DATA_DIR, so it is the same
 *    embedded engine with the same fresh-start state as the endpoint's service.
 * 3. Memory: one request whose body of M MB (default 1024) is generated while it streams
 *    (never held in memory), into a fresh service with INGEST_MAX_BODY_BYTES raised. The
 *    service's RSS (engine included: chDB runs inside it) is sampled from /proc every 100 ms;
 *    VmHWM is the process's lifetime peak.
 *
 * Target: endpoint >= 50% of the direct rate; peak RSS < 1.5 GB during the big body.
 */
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../server/config.js';
import type { IngestAnswer } from '../server/ingest-route.js';
import { validateEvent, TABLE_OF, type TableName } from '../server/ingest/validate.js';
import { createLogger } from '../server/logger.js';
import { migrate } from '../server/storage/migrate.js';
import { createExecutor } from '../server/service.js';
import { openStorage } from '../server/storage/client.js';
import { generateStore, scaled } from '../scripts/generate/store.js';
import { spawnTsx } from '../scripts/lib/process.js';
import { startServiceProcess } from '../scripts/lib/service-process.js';
import { BULK_END } from './bulk.js';

export interface Options {
  events: number;
  clients: number;
  batch: number;
  bodyMb: number;
}

const DIRECT_BATCH = 50_000;
const MB = 1024 * 1024;
const RSS_TARGET_BYTES = 1.5 * 1024 ** 3;

function parseOptions(argv: string[]): Options {
  const o: Options = { events: 1_000_000, clients: 4, batch: 10_000, bodyMb: 1024 };
  const names: Record<string, keyof Options> = { '--events': 'events', '--clients': 'clients', '--batch': 'batch', '--body-mb': 'bodyMb' };
  for (let i = 0; i < argv.length; i += 2) {
    const key = names[argv[i]!];
    const value = Number(argv[i + 1]);
    if (!key) throw new Error(`unknown option ${argv[i]} (--events N, --clients C, --batch B, --body-mb M)`);
    if (!(Number.isInteger(value) && value >= (key === 'bodyMb' ? 0 : 1))) throw new Error(`${argv[i]} needs a whole number`);
    o[key] = value;
  }
  return o;
}

/** The first n events of a generated store large enough to hold them (deterministic). */
function* benchEvents(n: number) {
  let i = 0;
  // a scale-1 store has about 144k events, 100k of them purchases
  for (const event of generateStore({ ...scaled(Math.max(0.01, n / 100_000)), end: BULK_END.toISOString() })) {
    if (i++ === n) return;
    yield event;
  }
}

/** Resident and peak resident bytes of a process, from /proc (Linux). */
function memoryOf(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

/** CPU seconds (user + system, all threads) a process has used so far, from /proc/<pid>/stat. */
function cpuSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of stat(5), in clock ticks (100 per second on Linux)
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function sampleRss(pid: number): { stop(): { peakRss: number; hwm: number } } {
  let peakRss = 0;
  const tick = () => {
    peakRss = Math.max(peakRss, memoryOf(pid).rss);
  };
  tick();
  const timer = setInterval(tick, 100);
  return {
    stop() {
      clearInterval(timer);
      tick();
      return { peakRss, hwm: memoryOf(pid).hwm };
    },
  };
}

/** `o.events` events through POST /v1/events of a service on `dataDir` (`env` added to its environment), `o.clients` requests of `o.batch` at a time. */
export async function endpointRun(o: Pick<Options, 'events' | 'clients' | 'batch'>, dataDir: string, env: Record<string, string> = {}) {
  const bodies: string[] = [];
  let lines: string[] = [];
  for (const event of benchEvents(o.events)) {
    lines.push(JSON.stringify(event));
    if (lines.length === o.batch) {
      bodies.push(`${lines.join('\n')}\n`);
      lines = [];
    }
  }
  if (lines.length > 0) bodies.push(`${lines.join('\n')}\n`);
  const service = await startServiceProcess(dataDir, env, { timeoutMs: 300_000 });
  const rss = sampleRss(service.pid);
  const totals = { accepted: 0, duplicates: 0, rejected: 0 };
  let next = 0;
  const cpuBefore = cpuSecondsOf(service.pid);
  const started = performance.now();
  await Promise.all(
    Array.from({ length: o.clients }, async () => {
      while (next < bodies.length) {
        const body = bodies[next++]!;
        const res = await fetch(`${service.url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body });
        if (res.status !== 200) throw new Error(`POST /v1/events answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
        const answer = (await res.json()) as IngestAnswer;
        totals.accepted += answer.accepted;
        totals.duplicates += answer.duplicates;
        totals.rejected += answer.rejectedCount;
      }
    }),
  );
  // With the ingest log the last groups may still be on their way into the tables: a read waits
  // for them (Executor.readBarrier), so the time counts every event stored, as the direct insert's does.
  const read = await fetch(`${service.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ customer(id: "bench-visible") { customerId } }' }) });
  if (read.status !== 200) throw new Error(`the read after the ingest answered ${read.status}: ${(await read.text()).slice(0, 300)}`);
  const ms = performance.now() - started;
  const cpuS = cpuSecondsOf(service.pid) - cpuBefore;
  const memory = rss.stop();
  await service.stop();
  if (totals.accepted !== o.events) throw new Error(`expected ${o.events} accepted events, got ${JSON.stringify(totals)}`);
  return { ms, cpuS, ...memory };
}

/** Step 2, in its own process (`--direct-child DATA_DIR N`): prints `{"ms": …, "cpuS": …}`. */
async function directChild(dataDir: string, n: number): Promise<void> {
  const config = loadConfig({ DATA_DIR: dataDir, LOG_LEVEL: 'silent' });
  const storage = await openStorage(config);
  try {
    await migrate(createExecutor(storage, config, createLogger('silent')));
    const rows = new Map<TableName, object[]>();
    let seq = 0;
    for (const event of benchEvents(n)) {
      const r = validateEvent(event);
      if (!r.ok) throw new Error(`generated an invalid event: ${r.errors.join('; ')}`);
      const table = TABLE_OF[r.event.type];
      if (!rows.has(table)) rows.set(table, []);
      rows.get(table)!.push(table === 'customers' ? { ...r.event.row, received_seq: ++seq } : r.event.row);
    }
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    for (const [table, list] of rows) {
      for (let i = 0; i < list.length; i += DIRECT_BATCH) {
        await storage.client.insert({ table: `${storage.database}.${table}`, values: list.slice(i, i + DIRECT_BATCH), format: 'JSONEachRow' });
      }
    }
    const ms = performance.now() - started;
    const cpu = process.cpuUsage(cpuBefore);
    console.log(JSON.stringify({ ms, cpuS: (cpu.user + cpu.system) / 1e6 }));
  } finally {
    await storage.close();
  }
}

async function directRun(o: Options, dataDir: string) {
  const child = spawnTsx('bench/run.ts', ['ingest', '--direct-child', dataDir, String(o.events)]);
  const { code } = await child.exited;
  if (code !== 0) throw new Error(`direct insert failed:\n${child.stderr()}`);
  return JSON.parse(child.stdout().trim().split('\n').pop()!) as { ms: number; cpuS: number };
}

/** Purchases padded with an ignored field to about 1 KB a line, generated as the body streams. */
async function bigBodyRun(o: Options, dataDir: string) {
  const service = await startServiceProcess(dataDir, { INGEST_MAX_BODY_BYTES: String(2 * o.bodyMb * MB) });
  const rss = sampleRss(service.pid);
  const target = o.bodyMb * MB;
  const { port } = new URL(service.url);
  const req = request({ host: '127.0.0.1', port, path: '/v1/events', method: 'POST', headers: { 'content-type': 'application/x-ndjson' } });
  const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
    req.once('error', reject);
    req.once('response', (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString('utf8')));
      res.once('end', () => resolve({ status: res.statusCode!, body: text }));
    });
  });
  const padding = 'x'.repeat(850);
  const started = performance.now();
  let sent = 0;
  let events = 0;
  while (sent < target) {
    let chunk = '';
    while (chunk.length < 256 * 1024) {
      chunk += `${JSON.stringify({
        type: 'purchase',
        eventId: `big-${events}`,
        customerId: `c-${events % 100_000}`,
        occurredAt: new Date(Date.UTC(2025, 0, 1) + events * 1000).toISOString(),
        amount: `${events % 1000}.${events % 100}`,
        currency: 'USD',
        padding,
      })}\n`;
      events++;
    }
    sent += Buffer.byteLength(chunk);
    if (!req.write(chunk)) await once(req, 'drain');
  }
  req.end();
  const { status, body } = await response;
  const ms = performance.now() - started;
  const memory = rss.stop();
  await service.stop();
  if (status !== 200) throw new Error(`the ${o.bodyMb} MB body was answered ${status}: ${body.slice(0, 300)}`);
  const answer = JSON.parse(body) as IngestAnswer;
  if (answer.accepted !== events) throw new Error(`expected ${events} accepted events, got ${answer.accepted}`);
  return { ms, bytes: sent, events, ...memory };
}

const mb = (bytes: number) => `${Math.round(bytes / MB)} MB`;
const rate = (n: number, ms: number) => Math.round((n / ms) * 1000);

export async function main(argv: string[]): Promise<void> {
  if (argv[0] === '--direct-child') return directChild(argv[1]!, Number(argv[2]));
  const o = parseOptions(argv);
  const root = mkdtempSync(join(tmpdir(), 'kpi-bench-ingest-'));
  try {
    console.log(`ingest bench: ${o.events} events, ${o.clients} concurrent clients sending ${o.batch}-event requests`);
    const endpoint = await endpointRun(o, join(root, 'endpoint'));
    const endpointRate = rate(o.events, endpoint.ms);
    console.log(
      `  endpoint  POST /v1/events       ${endpointRate} events/s (${(endpoint.ms / 1000).toFixed(1)} s; server CPU ${endpoint.cpuS.toFixed(1)} s), server peak RSS ${mb(endpoint.peakRss)}`,
    );
    const direct = await directRun(o, join(root, 'direct'));
    const directRate = rate(o.events, direct.ms);
    console.log(`  direct    client.insert         ${directRate} events/s (${(direct.ms / 1000).toFixed(1)} s; CPU ${direct.cpuS.toFixed(1)} s; JSONEachRow, ${DIRECT_BATCH}-row batches, own process and DATA_DIR)`);
    const ratio = endpointRate / directRate;
    console.log(`  ratio     endpoint / direct     ${ratio.toFixed(2)} (target >= 0.50: ${ratio >= 0.5 ? 'met' : 'NOT met'}); CPU per event ${(endpoint.cpuS / direct.cpuS).toFixed(2)}x the direct insert's`);
    if (o.bodyMb > 0) {
      const big = await bigBodyRun(o, join(root, 'body'));
      const peak = Math.max(big.peakRss, big.hwm);
      console.log(
        `  body      one ${mb(big.bytes)} request   ${big.events} events in ${(big.ms / 1000).toFixed(1)} s (${rate(big.events, big.ms)} events/s, ${mb(rate(big.bytes, big.ms))}/s); ` +
          `server peak RSS ${mb(big.peakRss)} sampled, VmHWM ${mb(big.hwm)} (target < 1.5 GB: ${peak < RSS_TARGET_BYTES ? 'met' : 'NOT met'})`,
      );
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
