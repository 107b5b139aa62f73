/**
 * `npm run bench -- scale [--sizes 1000000,3000000,10000000,30000000] [--runs R] [--events E]`:
 * the scale curve of issue 17, one row per store size, each from a store filled by this run.
 *
 * Per size: (1) fill a fresh store (bench/bulk.ts, `INSERT … SELECT` into the raw tables, the
 * views filling the states as they do for POST /v1/events): the bulk load; (2) start the service
 * on it at once and time `retentionCohorts` R times with no warm-up and no wait, while the
 * engine still merges what the load wrote; (3) merge every table (`OPTIMIZE … FINAL`, what the
 * background merges reach in the end) and measure the data size on disk; (4) time the KPIs of
 * the curve settled, with the service's peak RSS; (5) time the plain SQL of the cohorts on a
 * copy of the same rows and compare the answers (both timings' answers, right after and
 * settled); (6) send E generated events through POST /v1/events into an empty store and then
 * into the settled one: the growing store's ingest rate against the empty store's, back to back.
 *
 * Targets (issue 17): right after the load retentionCohorts within 2x of settled and >= 10x
 * its plain SQL; weekly cohorts >= 10x; at 1M, cohorts >= 10x; the ingest rate into the
 * largest store >= 80% of the rate into an empty one.
 */
import { cpSync, mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bytesUnder } from './backup.js';
import { bulkOptions } from './bulk.js';
import { endpointRun } from './ingest.js';
import { BENCH_DATABASE, CASES, type Case } from './kpis-cases.js';
import { recordInDocs, rssMb, startService, stats, worker } from './kpis.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

interface Options {
  sizes: number[];
  runs: number;
  events: number;
}

/** The curve's KPIs; the first two also get their plain SQL (the ratio targets are theirs). */
const CURVE = ['retentionCohorts', 'retentionCohorts (WEEK)', 'customerLifetimeValue', 'kpiSnapshot'];
const WITH_BASELINE = CURVE.slice(0, 2);
const INGEST = { clients: 4, batch: 10_000 };
const SERVICE_ENV = { CLICKHOUSE_DATABASE: BENCH_DATABASE, API_KEYS: '' };

function parseOptions(argv: string[]): Options {
  const o: Options = { sizes: [1_000_000, 3_000_000, 10_000_000, 30_000_000], runs: 5, events: 500_000 };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1] ?? ''];
    const numbers = value.split(',').map(Number);
    if (!(numbers.length > 0 && numbers.every((n) => Number.isInteger(n) && n > 0))) throw new Error(`${flag} needs positive whole numbers`);
    if (flag === '--sizes') o.sizes = numbers;
    else if (flag === '--runs' && numbers.length === 1) o.runs = numbers[0]!;
    else if (flag === '--events' && numbers.length === 1) o.events = numbers[0]!;
    else throw new Error(`unknown option ${flag} (--sizes N,N,…, --runs R, --events E)`);
  }
  return o;
}

const caseNamed = (name: string): Case => CASES.find((c) => c.name === name)!;
const same = (c: Case, graphql: Parameters<Case['fromGraphql']>[0], rows: Parameters<Case['fromBaseline']>[0]) => JSON.stringify(c.fromGraphql(graphql)) === JSON.stringify(c.fromBaseline(rows));

/** Each named KPI `runs` times (after `warmups` untimed calls) through one service on `dir`: times, the last answer, the peak RSS. */
async function timeKpis(dir: string, names: string[], runs: number, warmups: number) {
  const { pid, gql, stop } = await startService(dir);
  let peakRss = 0;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, rssMb(pid))), 50);
  try {
    const out: Record<string, { ms: number[]; answers: Parameters<Case['fromGraphql']>[0][] }> = {};
    for (const name of names) {
      const r = (out[name] = { ms: [] as number[], answers: [] as Parameters<Case['fromGraphql']>[0][] });
      for (let run = -warmups; run < runs; run++) {
        const { ms, data } = await gql(caseNamed(name).query);
        if (run >= 0) r.ms.push(ms), r.answers.push(data);
      }
    }
    return { out, peakRss };
  } finally {
    clearInterval(sampler);
    await stop();
  }
}

const events = (o: Options) => ({ ...INGEST, events: o.events });
const perSecond = (n: number, ms: number) => Math.round((n / ms) * 1000);

async function measureSize(size: number, o: Options, scratch: string) {
  const base = join(scratch, String(size));
  const dir = join(base, 'service');
  rmSync(base, { recursive: true, force: true });
  mkdirSync(base, { recursive: true });
  const bulk = bulkOptions(size);
  console.log(`${size}: filling …`);
  let started = performance.now();
  await worker('fill', dir, size);
  const fillMs = performance.now() - started;

  console.log(`${size}: retentionCohorts right after the load …`);
  const fresh = await timeKpis(dir, ['retentionCohorts'], o.runs, 0);
  console.log(`${size}: merging …`);
  const merged = (await worker('optimize', dir, 0)) as { ms: number };
  const bytes = bytesUnder(dir);

  console.log(`${size}: settled …`);
  const settled = await timeKpis(dir, CURVE, o.runs, 1);
  const copy = join(base, 'baseline');
  cpSync(dir, copy, { recursive: true });
  console.log(`${size}: plain SQL …`);
  const baseline = (await worker('baseline', copy, o.runs, WITH_BASELINE.join(','))) as Record<string, { ms: number[]; rows: Parameters<Case['fromBaseline']>[0] }>;
  rmSync(copy, { recursive: true, force: true });
  const equal = WITH_BASELINE.every((name) => settled.out[name]!.answers.every((a) => same(caseNamed(name), a, baseline[name]!.rows)));
  const freshEqual = fresh.out.retentionCohorts!.answers.every((a) => same(caseNamed('retentionCohorts'), a, baseline.retentionCohorts!.rows));

  // The empty store's rate just before, not once for the whole run: the machine's pace drifts
  // over half an hour (consecutive identical runs here differed by up to a quarter).
  console.log(`${size}: ${o.events} events into an empty store, then into the settled one …`);
  const empty = await endpointRun(events(o), join(base, 'empty'), SERVICE_ENV);
  const ingest = await endpointRun(events(o), dir, SERVICE_ENV);
  rmSync(base, { recursive: true, force: true });

  const p50 = (name: string) => stats(settled.out[name]!.ms).p50;
  const plain = (name: string) => stats(baseline[name]!.ms).p50;
  const freshP50 = stats(fresh.out.retentionCohorts!.ms).p50;
  const ingestRate = perSecond(o.events, ingest.ms);
  const emptyRate = perSecond(o.events, empty.ms);
  return {
    size,
    customers: bulk.customers,
    fillRate: perSecond(size, fillMs),
    mergeS: merged.ms / 1000,
    bytes,
    fresh: { p50: freshP50, first: fresh.out.retentionCohorts!.ms[0]!, vsSettled: freshP50 / p50('retentionCohorts'), vsPlain: plain('retentionCohorts') / freshP50, equal: freshEqual },
    cohorts: { p50: p50('retentionCohorts'), plain: plain('retentionCohorts') },
    weeks: { p50: p50('retentionCohorts (WEEK)'), plain: plain('retentionCohorts (WEEK)') },
    clv: p50('customerLifetimeValue'),
    snapshot: p50('kpiSnapshot'),
    peakRss: settled.peakRss,
    ingestRate,
    emptyRate,
    ingestVsEmpty: ingestRate / emptyRate,
    equal,
  };
}

export async function main(argv: string[]): Promise<void> {
  const o = parseOptions(argv);
  const scratch = resolve(ROOT, '.bench', 'scale');
  rmSync(scratch, { recursive: true, force: true });
  mkdirSync(scratch, { recursive: true });
  const rows: string[] = [];
  for (const size of o.sizes) {
    const m = await measureSize(size, o, scratch);
    console.log(JSON.stringify(m));
    const x = (a: number, b: number) => `${(a / b).toFixed(1)}x`;
    rows.push(
      [
        size.toLocaleString('en-US'),
        `${(m.bytes / 1024 ** 3).toFixed(2)} GB`,
        `${m.fillRate.toLocaleString('en-US')}/s, merged in ${m.mergeS.toFixed(0)} s`,
        `${m.fresh.first.toFixed(0)} first, p50 ${m.fresh.p50.toFixed(0)} (${m.fresh.vsSettled.toFixed(2)}x settled, ${m.fresh.vsPlain.toFixed(1)}x plain SQL)`,
        `${m.cohorts.p50.toFixed(0)} (${x(m.cohorts.plain, m.cohorts.p50)} of ${m.cohorts.plain.toFixed(0)})`,
        `${m.weeks.p50.toFixed(0)} (${x(m.weeks.plain, m.weeks.p50)} of ${m.weeks.plain.toFixed(0)})`,
        m.clv.toFixed(0),
        m.snapshot.toFixed(0),
        `${m.ingestRate.toLocaleString('en-US')}/s (${(m.ingestVsEmpty * 100).toFixed(0)}% of ${m.emptyRate.toLocaleString('en-US')})`,
        `${m.peakRss.toFixed(0)} MB`,
        m.equal && m.fresh.equal ? 'equal' : 'DIFFERENT',
      ].join(' | '),
    );
  }
  const report = [
    `Stores of ${o.sizes.map((s) => s.toLocaleString('en-US')).join(', ')} purchases (bench/bulk.ts, 10 per customer), each filled by the run; p50 of ${o.runs} runs, ms; ingest: ${o.events.toLocaleString('en-US')} generated events, ${INGEST.clients} clients × ${INGEST.batch.toLocaleString('en-US')}-event requests, into an empty store and then into the merged one.`,
    '',
    '| purchases | on disk (merged) | bulk load | retentionCohorts right after the load | retentionCohorts settled (vs plain SQL) | weekly cohorts (vs plain SQL) | CLV | kpiSnapshot | ingest into the store (of the empty store just before) | service peak RSS | same figures |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r} |`),
  ].join('\n');
  console.log(`\n${report}\n`);
  recordInDocs(`scale ${o.sizes.join(',')}`, report);
  rmSync(scratch, { recursive: true, force: true });
}
