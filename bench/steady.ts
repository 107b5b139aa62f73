/**
 * `npm run bench -- steady [--purchases N] [--runs R] [--readers C] [--readers-seconds S]
 * [--rate Q] [--trickle-seconds T]`: the store in use rather than settled
 * (issue 17), on a private copy of the KPI bench's store of N purchases (default 10M):
 *
 * 1. settled: retentionCohorts, customerLifetimeValue and kpiSnapshot, R runs each (default 5);
 * 2. concurrent readers: C users (default 20) open the provisioned boards in turn for S seconds
 *    (default 60), each board's panel queries at once as Grafana sends them for the last 12
 *    months: board load time, throughput, p50/p99, shared answers, errors, service RSS;
 * 3. trickle: Q requests/s (default 200) of 1-5 events each for T seconds (default 300), open
 *    loop (each request leaves at its time, as independent webhook senders do): purchases dated in the store's last month (so every
 *    answer moves), a full refund of an earlier one for every 30th event, and every 50th
 *    request sent twice (a retry). Acknowledgement latency is timed from each request's
 *    scheduled start, the most active parts of one partition per
 *    table are read from GET /metrics, and one reader times the three KPIs in turn meanwhile;
 * 4. exactness: the three KPIs once more, then the plain SQL on a copy of the same rows.
 *
 * Prints the figures and writes them to docs/performance.md.
 */
import { cpSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ALL, customOptions, interpolate } from '../dashboards/src/grafana.js';
import { Rng } from '../scripts/generate/prng.js';
import { bulkOptions } from './bulk.js';
import { AS_OF, CAMPAIGN, CASES, type Case } from './kpis-cases.js';
import { sleep } from '../server/storage/retry.js';
import { benchStore, percentile, recordInDocs, rssMb, startService, stats, worker } from './kpis.js';

const TIMED = ['retentionCohorts', 'customerLifetimeValue', 'kpiSnapshot'];
/** Grafana's "last 12 complete months" before the end of the data (`now-12M/M` to `now-1M/M`). */
const BOARD_RANGE = { from: '2025-11-01T00:00:00.000Z', to: '2026-10-31T23:59:59.999Z' };
const BOARDS_DIR = new URL('../dashboards/boards/', import.meta.url);
const DAY_MS = 86_400_000;

type Service = Awaited<ReturnType<typeof startService>>;

function option(values: Record<string, string | undefined>, name: string, fallback: number): number {
  const raw = values[name];
  const n = raw === undefined ? fallback : Number(raw);
  if (!(Number.isFinite(n) && n > 0)) throw new Error(`--${name} needs a positive number (got ${raw})`);
  return n;
}

const fmt = (ms: number) => (ms >= 100 ? ms.toFixed(0) : ms.toFixed(1));

/** Every provisioned board with its panel queries, as Grafana sends them with the boards' saved selections (USD and the bench's campaign where a board asks for one). */
function boardLoads(): { board: string; queries: { name: string; query: string }[] }[] {
  const chosen: Record<string, string> = { currency: 'USD', campaign: CAMPAIGN };
  const optionsOf = (def: any): string[] => (def.type === 'custom' ? customOptions(def) : [chosen[def.name] ?? ALL]);
  return readdirSync(BOARDS_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => {
      const board = JSON.parse(readFileSync(new URL(file, BOARDS_DIR), 'utf8'));
      const queries = (board.panels as any[]).flatMap((panel) =>
        (panel.targets ?? [])
          .map((t: any) => t.url_options?.body_graphql_query)
          .filter(Boolean)
          .map((text: string) => ({ name: `${board.uid} / ${panel.title}`, query: interpolate(text, board, {}, BOARD_RANGE, optionsOf) })),
      );
      return { board: board.uid as string, queries };
    });
}

/** The most active parts of one partition, per table, as the service reports them. */
async function partsNow(url: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const parts = new Map<string, number>();
  for (const m of text.matchAll(/^kpi_clickhouse_partition_parts_max\{table="(\w+)"\} (\d+)$/gm)) parts.set(m[1]!, Number(m[2]));
  return parts;
}

/** Samples the service's RSS and parts until stopped; keeps the peaks. */
function sampler(svc: Service) {
  let rss = 0;
  const parts = new Map<string, number>();
  const rssTimer = setInterval(() => (rss = Math.max(rss, rssMb(svc.pid))), 200);
  let stopped = false;
  const partsLoop = (async () => {
    while (!stopped) {
      for (const [t, n] of await partsNow(svc.url)) parts.set(t, Math.max(parts.get(t) ?? 0, n));
      await sleep(2000);
    }
  })();
  return {
    async stop() {
      stopped = true;
      clearInterval(rssTimer);
      await partsLoop;
      return { rss, parts };
    },
  };
}

async function timeCases(svc: Service, cases: Case[], runs: number): Promise<Record<string, number[]>> {
  const out: Record<string, number[]> = {};
  for (const c of cases) {
    out[c.name] = [];
    for (let run = -1; run < runs; run++) {
      const { ms } = await svc.gql(c.query);
      if (run >= 0) out[c.name]!.push(ms);
    }
  }
  return out;
}

/** One GraphQL request, timed; whether its answer was shared with an identical running one (server/shared-reads.ts). */
async function post(url: string, query: string) {
  const started = performance.now();
  const res = await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query }) });
  const json = (await res.json()) as { errors?: unknown };
  return { ms: performance.now() - started, shared: res.headers.has('x-shared-answer'), error: json.errors ? JSON.stringify(json.errors).slice(0, 300) : undefined };
}

/**
 * C users each open the boards in turn, as Grafana loads one: every panel's query at once, the
 * next board when all have answered. Each user starts at another board.
 */
async function readers(svc: Service, clients: number, seconds: number) {
  const boards = boardLoads();
  // Each board once first: the engine's caches and the service's JIT as a first visit leaves them.
  for (const b of boards) await Promise.all(b.queries.map((q) => post(svc.url, q.query)));
  const ms: number[] = [];
  const loads: number[] = [];
  const errors: string[] = [];
  let shared = 0;
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async (_, client) => {
      for (let i = client; performance.now() < deadline; i++) {
        const b = boards[i % boards.length]!;
        const t = performance.now();
        for (const r of await Promise.all(b.queries.map((q) => post(svc.url, q.query).then((a) => ({ ...a, name: q.name }))))) {
          ms.push(r.ms);
          if (r.shared) shared++;
          if (r.error) errors.push(`${r.name}: ${r.error}`);
        }
        loads.push(performance.now() - t);
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  return {
    boards: boards.length,
    panels: boards.reduce((n, b) => n + b.queries.length, 0),
    loads: loads.length,
    loadP50: percentile(loads, 50),
    requests: ms.length,
    shared,
    perSecond: ms.length / elapsed,
    p50: percentile(ms, 50),
    p99: percentile(ms, 99),
    errors,
  };
}

/** The trickle's events: request bodies made on demand, deterministic for a seed. */
function trickleEvents(customers: number, seed = 17) {
  const rng = new Rng(seed);
  const asOf = Date.parse(AS_OF);
  const stored: { customerId: string; eventId: string; at: number; amount: string; currency: string }[] = [];
  let seq = 0;
  let newCustomers = 0;
  let previous = '';
  let requests = 0;
  const events = { purchases: 0, refunds: 0 };
  const next = (): string => {
    requests++;
    // A webhook retry: the same body again, every 50th request.
    if (requests % 50 === 0 && previous) return previous;
    const lines: string[] = [];
    for (let n = 1 + rng.int(5); n > 0; n--) {
      seq++;
      if (seq % 30 === 0 && stored.length > 0) {
        const p = stored.splice(rng.int(stored.length), 1)[0]!;
        events.refunds++;
        lines.push(JSON.stringify({ type: 'refund', eventId: `tr-${seq}`, customerId: p.customerId, orderId: p.eventId, occurredAt: new Date(Math.min(p.at + 3_600_000, asOf)).toISOString(), amount: p.amount, currency: p.currency }));
        continue;
      }
      const customerId = rng.chance(0.8) ? `c${String(rng.int(customers)).padStart(8, '0')}` : `t-${newCustomers++}`;
      // In the month before asOf: the last cohort, the last offsets of the others and the windows all move.
      const at = asOf - 30 * DAY_MS + rng.int(29 * DAY_MS);
      const p = { customerId, eventId: `tr-${seq}`, at, amount: (5 + rng.int(19_500) / 100).toFixed(2), currency: rng.chance(0.9) ? 'USD' : 'EUR' };
      stored.push(p);
      events.purchases++;
      lines.push(JSON.stringify({ type: 'purchase', eventId: p.eventId, customerId, occurredAt: new Date(at).toISOString(), amount: p.amount, currency: p.currency }));
    }
    previous = lines.join('\n') + '\n';
    return previous;
  };
  return { next, events, newCustomers: () => newCustomers };
}

async function trickle(svc: Service, o: { rate: number; seconds: number; customers: number }) {
  const source = trickleEvents(o.customers);
  const ack: number[] = [];
  const errors: string[] = [];
  let accepted = 0;
  let duplicates = 0;
  let stopReading = false;
  const during: Record<string, number[]> = Object.fromEntries(TIMED.map((n) => [n, []]));
  const reader = (async () => {
    while (!stopReading) for (const c of CASES.filter((x) => TIMED.includes(x.name))) if (!stopReading) during[c.name]!.push((await svc.gql(c.query)).ms);
  })();
  // Open loop, as independent webhook senders are: each request leaves at its scheduled time
  // whatever is still outstanding, and its acknowledgement is timed from that time.
  const interval = 1000 / o.rate;
  const start = performance.now() + 100;
  const count = Math.floor(o.seconds * o.rate);
  const sent: Promise<void>[] = [];
  for (let k = 0; k < count; k++) {
    const due = start + k * interval;
    await sleep(due - performance.now());
    const body = source.next();
    sent.push(
      (async () => {
        try {
          const res = await fetch(`${svc.url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body });
          const answer = (await res.json()) as { accepted?: number; duplicates?: number };
          if (res.status !== 200) errors.push(`${res.status}: ${JSON.stringify(answer).slice(0, 200)}`);
          accepted += answer.accepted ?? 0;
          duplicates += answer.duplicates ?? 0;
        } catch (e) {
          errors.push((e as Error).message);
        }
        ack.push(performance.now() - due);
      })(),
    );
  }
  await Promise.all(sent);
  stopReading = true;
  await reader;
  return { requests: ack.length, seconds: o.seconds, accepted, duplicates, events: source.events, newCustomers: source.newCustomers(), p50: percentile(ack, 50), p99: percentile(ack, 99), max: Math.max(...ack), errors, during };
}

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      purchases: { type: 'string' },
      runs: { type: 'string' },
      readers: { type: 'string' },
      'readers-seconds': { type: 'string' },
      rate: { type: 'string' },
      'trickle-seconds': { type: 'string' },
    },
  });
  const purchases = Math.round(option(values, 'purchases', 10_000_000));
  const runs = Math.round(option(values, 'runs', 5));
  const o = {
    readers: Math.round(option(values, 'readers', 20)),
    readersSeconds: option(values, 'readers-seconds', 60),
    rate: option(values, 'rate', 200),
    trickleSeconds: option(values, 'trickle-seconds', 300),
  };
  const customers = bulkOptions(purchases).customers;
  const source = await benchStore(purchases);
  // A private copy: the trickle adds events, and the KPI bench's store stays as it generated it.
  const base = join(source, '..', '..', `steady-${purchases}`);
  const dir = join(base, 'service');
  rmSync(base, { recursive: true, force: true });
  cpSync(source, dir, { recursive: true });

  const cases = CASES.filter((c) => TIMED.includes(c.name));
  const svc = await startService(dir);
  let settled: Record<string, number[]>;
  let read: Awaited<ReturnType<typeof readers>>;
  let flow: Awaited<ReturnType<typeof trickle>>;
  let readPeak: Awaited<ReturnType<ReturnType<typeof sampler>['stop']>>;
  let flowPeak: typeof readPeak;
  const final: Record<string, any> = {};
  try {
    settled = await timeCases(svc, cases, runs);
    console.log(`settled: ${TIMED.map((n) => `${n} ${fmt(stats(settled[n]!).p50)} ms`).join(', ')}`);
    let s = sampler(svc);
    read = await readers(svc, o.readers, o.readersSeconds);
    readPeak = await s.stop();
    console.log(`readers: ${read.loads} board loads (p50 ${fmt(read.loadP50)} ms), ${read.requests} requests (${read.shared} shared), ${read.perSecond.toFixed(1)}/s, p50 ${fmt(read.p50)} ms, p99 ${fmt(read.p99)} ms, ${read.errors.length} errors`);
    s = sampler(svc);
    flow = await trickle(svc, { rate: o.rate, seconds: o.trickleSeconds, customers });
    flowPeak = await s.stop();
    console.log(`trickle: ${flow.requests} requests, ack p50 ${fmt(flow.p50)} ms, p99 ${fmt(flow.p99)} ms, ${flow.errors.length} errors`);
    for (const c of cases) final[c.name] = (await svc.gql(c.query)).data;
  } finally {
    await svc.stop();
  }
  const baselineDir = join(base, 'baseline');
  cpSync(dir, baselineDir, { recursive: true });
  const baseline = (await worker('baseline', baselineDir, 0, TIMED.join(','))) as Record<string, { rows: any[][] }>;
  rmSync(base, { recursive: true, force: true });

  const partsText = (parts: Map<string, number>) => [...parts].filter(([, n]) => n > 1).map(([t, n]) => `${t} ${n}`).join(', ') || 'one per partition';
  const lines = [
    `${purchases.toLocaleString('en-US')} purchases (the KPI bench's store, copied), 2-core machine.`,
    '',
    `**Concurrent readers**: ${o.readers} users opening the ${read.boards} boards in turn (${read.panels} panel queries, each board's sent at once) for ${o.readersSeconds} s: ${read.loads} board loads (p50 ${fmt(read.loadP50)} ms), ${read.requests} requests (${read.shared} answered by an identical running one), ${read.perSecond.toFixed(1)} requests/s, request p50 ${fmt(read.p50)} ms, p99 ${fmt(read.p99)} ms, ${read.errors.length} errors; service peak RSS ${readPeak.rss.toFixed(0)} MB (< 2048 MB: ${readPeak.rss < 2048 ? 'yes' : 'NO'}).${read.errors.length ? ` First error: ${read.errors[0]}` : ''}`,
    '',
    `**Trickle**: ${o.rate} requests/s for ${o.trickleSeconds} s, open loop: ${flow.requests} requests (${flow.events.purchases} purchases, ${flow.events.refunds} refunds, ${flow.newCustomers} new customers, every 50th request sent twice): ${flow.accepted} accepted, ${flow.duplicates} duplicates, ${flow.errors.length} errors; acknowledgement p50 ${fmt(flow.p50)} ms, p99 ${fmt(flow.p99)} ms (< 250 ms: ${flow.p99 < 250 ? 'yes' : 'NO'}), max ${fmt(flow.max)} ms; most active parts in one partition: ${partsText(flowPeak.parts)}; service peak RSS ${flowPeak.rss.toFixed(0)} MB.${flow.errors.length ? ` First error: ${flow.errors[0]}` : ''}`,
    '',
    '| KPI | settled p50 ms | during the trickle p50 ms (runs) | ratio | target | met | after the trickle vs plain SQL |',
    '|---|---|---|---|---|---|---|',
    ...cases.map((c) => {
      const a = stats(settled[c.name]!).p50;
      const runsDuring = flow.during[c.name]!;
      const b = runsDuring.length ? stats(runsDuring).p50 : NaN;
      const same = JSON.stringify(c.fromGraphql(final[c.name])) === JSON.stringify(c.fromBaseline(baseline[c.name]!.rows));
      return `| ${c.name} | ${fmt(a)} | ${fmt(b)} (${runsDuring.length}) | ${(b / a).toFixed(2)}x | < 2x settled | ${b / a < 2 ? 'yes' : 'NO'} | ${same ? 'equal' : 'DIFFERENT'} |`;
    }),
  ];
  const report = lines.join('\n');
  console.log(`\n${report}\n`);
  recordInDocs(`steady ${purchases}`, report);
}
