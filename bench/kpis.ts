/**
 * `npm run bench -- kpis [--purchases N | --scale S] [--runs R]`: p50/p95 of every KPI through
 * GraphQL against a spawned service, and of the plain SQL over the raw tables in a private copy
 * of the same data (bench/kpis-worker.ts), with the ratio and a check that both agree.
 *
 * Steps: (1) fill .bench/kpis-N/service once (deterministic, reused by later runs); (2) start
 * the service on it and send late purchases (earlier than their customers' first purchase) and
 * retries through POST /v1/events, as a client would; (3) time each KPI; (4) stop the service,
 * copy its data directory and time the baselines there in a child process. The copy holds the
 * same rows, late events included; the baseline reads only the raw tables.
 */
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, waitFor } from '../scripts/lib/process.js';
import { BULK_VERSION, bulkOptions } from './bulk.js';
import { BENCH_DATABASE, CASES, type Case } from './kpis-cases.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

const SMALL_QUERY_WARMUPS = 20;

interface Options {
  purchases: number;
  runs: number;
}

function parseOptions(argv: string[]): Options {
  const o: Options = { purchases: 10_000_000, runs: 20 };
  for (let i = 0; i < argv.length; i += 2) {
    const value = Number(argv[i + 1]);
    if (!(value > 0)) throw new Error(`${argv[i]} needs a positive number`);
    if (argv[i] === '--purchases') o.purchases = Math.round(value);
    // scripts/generate scale: 1 = 100k purchases.
    else if (argv[i] === '--scale') o.purchases = Math.round(value * 100_000);
    else if (argv[i] === '--runs') o.runs = Math.round(value);
    else throw new Error(`unknown option ${argv[i]} (--purchases N, --scale S, --runs R)`);
  }
  return o;
}

/** Runs a TypeScript entry in its own node process (no tsx wrapper process, so its pid is the engine's). */
export function node(script: string, args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
  const done = new Promise<string>((ok, fail) =>
    child.once('close', (code) => (code === 0 ? ok(out) : fail(new Error(`${script} ${args.join(' ')} exited with ${code}`)))),
  );
  return { child, done };
}

export async function worker(role: string, dir: string, arg: number, ...rest: string[]): Promise<any> {
  const out = await node('bench/kpis-worker.ts', [role, dir, String(arg), ...rest]).done;
  return JSON.parse(out.trim().split('\n').at(-1)!);
}

/** The p-th percentile of `ms` (nearest rank); NaN when there is none. */
export function percentile(ms: number[], p: number): number {
  const sorted = [...ms].sort((a, b) => a - b);
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export function stats(ms: number[]) {
  return { p50: percentile(ms, 50), p95: percentile(ms, 95) };
}

export function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

/** The late purchases: one per 1000 customers, dated in the first days of the data, before each one's first purchase. */
function lateEvents(customers: number): string[] {
  const lines: string[] = [];
  for (let i = 0, c = customers - 1; c >= 0 && i < Math.max(1, Math.round(customers / 1000)); i++, c -= 997) {
    lines.push(
      JSON.stringify({
        type: 'purchase',
        eventId: `late-${i}`,
        customerId: `c${String(c).padStart(8, '0')}`,
        occurredAt: new Date(Date.UTC(2023, 10, 2) + i * 3_600_000).toISOString(),
        amount: '12.34',
        currency: i % 2 ? 'EUR' : 'USD',
      }),
    );
  }
  return lines;
}

/** A service in its own process on `dir` (the bench database, no keys), ready, with a GraphQL helper that times each request. */
export async function startService(dir: string) {
  const port = await freePort();
  const service = node('server/main.ts', [], { DATA_DIR: dir, CLICKHOUSE_DATABASE: BENCH_DATABASE, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn', API_KEYS: '' });
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    service.child.kill('SIGTERM');
    await service.done.catch(() => undefined);
  };
  try {
    await waitFor('the service', async () => ((await fetch(`${url}/readyz`)).ok ? true : undefined), 120_000);
  } catch (e) {
    await stop();
    throw e;
  }
  const gql = async (query: string) => {
    const started = performance.now();
    const res = await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query }) });
    const json = (await res.json()) as { data?: any; errors?: unknown };
    const ms = performance.now() - started;
    if (json.errors) throw new Error(`GraphQL errors: ${JSON.stringify(json.errors)}`);
    return { ms, data: json.data };
  };
  return { url, pid: service.child.pid!, gql, stop };
}

async function measureService(dir: string, o: Options, customers: number) {
  const { url, pid, gql, stop } = await startService(dir);
  try {
    const body = [...lateEvents(customers), readFileSync(join(dir, '..', 'retries.ndjson'), 'utf8').trim()].join('\n') + '\n';
    const ingest = await fetch(`${url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body });
    const ingested = (await ingest.json()) as { accepted: number };
    console.log(`ingested through POST /v1/events: ${JSON.stringify(ingested)}`);

    let peakRss = 0;
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, rssMb(pid))), 50);
    // Straight after a write the new parts are not merged yet and FINAL merges them while reading.
    const afterWrite = ingested.accepted > 0 ? (await gql(CASES[0]!.query)).ms : undefined;
    // Then the steady state: the engine folds the written partitions back into one part within seconds.
    await new Promise((r) => setTimeout(r, 8000));
    const results: Record<string, { ms: number[]; data: any }> = {};
    for (const c of [{ name: 'smallQuery', query: '{ __typename }' } as Pick<Case, 'name' | 'query'>, ...CASES]) {
      let data: any;
      const ms: number[] = [];
      // The round trip times the HTTP and GraphQL path alone, so its first calls (JIT, connection
      // setup) would weigh on its few milliseconds: it warms up longer than the KPIs.
      for (let run = c.name === 'smallQuery' ? -SMALL_QUERY_WARMUPS : -1; run < o.runs; run++) {
        const r = await gql(c.query);
        data = r.data;
        if (run >= 0) ms.push(r.ms);
      }
      results[c.name] = { ms, data };
    }
    clearInterval(sampler);
    return { results, peakRss, afterWrite };
  } finally {
    await stop();
  }
}

/** The service data directory of a bulk store of this size, filled on first use and reused after. */
export async function benchStore(purchases: number): Promise<string> {
  const bulk = bulkOptions(purchases);
  const base = resolve(ROOT, '.bench', `kpis-${purchases}`);
  const serviceDir = join(base, 'service');
  const marker = join(base, 'filled.json');
  const current = existsSync(marker) && (JSON.parse(readFileSync(marker, 'utf8')) as { version?: number }).version === BULK_VERSION;
  if (!current) {
    rmSync(base, { recursive: true, force: true });
    mkdirSync(base, { recursive: true });
    console.log(`generating ${purchases} purchases, ${bulk.customers} customers, ${bulk.surveys} survey responses, ${bulk.referralEvents} referral events, ${bulk.loyaltyEvents} loyalty events, ${bulk.touchAssignments} campaign assignments …`);
    const started = performance.now();
    const filled = await worker('fill', serviceDir, purchases);
    writeFileSync(marker, JSON.stringify({ version: BULK_VERSION, ...filled, ms: Math.round(performance.now() - started) }));
  }
  console.log(`data: ${base} (${readFileSync(marker, 'utf8')})`);
  return serviceDir;
}

export async function main(argv: string[]): Promise<void> {
  const o = parseOptions(argv);
  const bulk = bulkOptions(o.purchases);
  const serviceDir = await benchStore(o.purchases);
  const baselineDir = join(serviceDir, '..', 'baseline');

  const service = await measureService(serviceDir, o, bulk.customers);
  // Printed before the baselines run, so a failing baseline does not lose the service's figures.
  for (const [name, r] of Object.entries(service.results)) console.log(`service ${name}: p50 ${stats(r.ms).p50.toFixed(0)} ms`);
  rmSync(baselineDir, { recursive: true, force: true });
  cpSync(serviceDir, baselineDir, { recursive: true });
  const baseline = (await worker('baseline', baselineDir, o.runs)) as Record<string, { ms: number[]; rows: any[][] }>;

  const lines: string[] = [];
  const small = stats(service.results.smallQuery!.ms);
  lines.push(`| GraphQL round trip of \`{ __typename }\` | ${small.p50.toFixed(1)} | ${small.p95.toFixed(1)} | | | | < 5 ms | ${small.p50 < 5 ? 'yes' : 'NO'} | |`);
  for (const c of CASES) {
    const s = stats(service.results[c.name]!.ms);
    const b = stats(baseline[c.name]!.ms);
    const ratio = b.p50 / s.p50;
    const same = JSON.stringify(c.fromGraphql(service.results[c.name]!.data)) === JSON.stringify(c.fromBaseline(baseline[c.name]!.rows));
    const relative = c.relativeTo && { ...c.relativeTo, times: s.p50 / stats(service.results[c.relativeTo.name]!.ms).p50 };
    const met = s.p50 < c.targetMs && (c.minRatio === undefined || ratio >= c.minRatio) && (relative === undefined || relative.times < relative.factor);
    const target = [`< ${c.targetMs} ms`, ...(c.minRatio ? [`>= ${c.minRatio}x`] : []), ...(relative ? [`< ${relative.factor}x ${relative.name} (${relative.times.toFixed(2)}x)`] : [])];
    lines.push(
      `| ${c.name} | ${s.p50.toFixed(0)} | ${s.p95.toFixed(0)} | ${b.p50.toFixed(0)} | ${b.p95.toFixed(0)} | ${ratio.toFixed(1)}x | ${target.join(', ')} | ${met ? 'yes' : 'NO'} | ${same ? 'equal' : 'DIFFERENT'} |`,
    );
  }
  const header = [
    `${o.purchases.toLocaleString('en-US')} purchases, ${bulk.customers.toLocaleString('en-US')} customers, ${bulk.surveys.toLocaleString('en-US')} survey responses, ${bulk.referralEvents.toLocaleString('en-US')} referral events, ${bulk.loyaltyEvents.toLocaleString('en-US')} loyalty events, about ${Math.round(bulk.purchases / 2).toLocaleString('en-US')} touches; ${o.runs} runs each after one warm-up (${SMALL_QUERY_WARMUPS} for the round trip); service peak RSS ${service.peakRss.toFixed(0)} MB (< 2048 MB: ${service.peakRss < 2048 ? 'yes' : 'NO'}).`,
    '',
    '| KPI | GraphQL p50 ms | p95 ms | plain SQL p50 ms | p95 ms | speed-up (p50) | target | met | same figures |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  const footer = [
    '',
    service.afterWrite === undefined
      ? 'This run sent no new events (the data directory was reused), so there was no unmerged write to time.'
      : `${CASES[0]!.name} once right after the ingest, before the engine merged the new parts: ${service.afterWrite.toFixed(0)} ms.`,
  ];
  const report = [...header, ...lines, ...footer].join('\n');
  console.log(`\n${report}\n`);
  recordInDocs(`kpis ${o.purchases}`, report);
}

/** Replaces a run's block of docs/performance.md (between its markers, `<!-- bench KEY -->`) with the latest one, or appends it. */
export function recordInDocs(key: string, report: string): void {
  const file = join(ROOT, 'docs', 'performance.md');
  const open = `<!-- bench ${key} -->`;
  const close = `<!-- /bench ${key} -->`;
  const block = `${open}\n${report}\n${close}`;
  const doc = existsSync(file) ? readFileSync(file, 'utf8') : '# Performance\n';
  const start = doc.indexOf(open);
  const end = doc.indexOf(close);
  const next = start >= 0 && end > start ? doc.slice(0, start) + block + doc.slice(end + close.length) : `${doc.trimEnd()}\n\n${block}\n`;
  writeFileSync(file, next);
  console.log(`written to docs/performance.md`);
}
