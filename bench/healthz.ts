/**
 * `npm run bench -- healthz [--purchases N] [--concurrency C]`: how long /healthz waits while
 * the service answers the heaviest documents its default budget allows, C at a time.
 *
 * The service runs in its own process on the bulk store of `npm run bench -- kpis` (filled on
 * first use); this process polls /healthz every 10 ms during each phase and reports the
 * slowest answer, next to each phase's request times, answer sizes and the service's peak RSS.
 * A measurement, not a test: the figures go to docs/performance.md by hand.
 */
import { get } from 'node:http';
import { cpus, loadavg } from 'node:os';
import { freePort, waitFor } from '../scripts/lib/process.js';
import { BENCH_DATABASE } from './kpis-cases.js';
import { benchStore, node, rssMb } from './kpis.js';

const DAY_MS = 86_400_000;
const iso = (ms: number) => new Date(ms).toISOString();

/** One GET /healthz on a fresh connection (a kept-alive one can be closed under it), in ms. */
function healthz(url: string): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    get(`${url}/healthz`, { agent: false }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve(performance.now() - started) : reject(new Error(`/healthz answered ${res.statusCode}`))));
    }).on('error', reject);
  });
}

/** The documents: each as large as the default budget (20 000 rows, 1 000 statements) allows. */
function documents(customers: number): { name: string; query: string; variables?: Record<string, unknown> }[] {
  const start = Date.UTC(2023, 10, 1);
  // 30 aliases of 666 daily periods each (19 980 rows), windows shifted so none is shared.
  const retention = Array.from(
    { length: 30 },
    (_, i) => `a${i}: retentionRate(grain: DAY, from: "${iso(start - i * DAY_MS)}", to: "${iso(start + (666 - i) * DAY_MS)}") { periodStart previousCustomers retainedCustomers rate churnRate }`,
  );
  // Daily cohorts with 120 offsets: 165 x 121 = 19 965 cells.
  const cohorts = [[start, 165]].map(
    ([from, days], i) =>
      `c${i}: retentionCohorts(grain: DAY, periods: 120, from: "${iso(from!)}", to: "${iso(from! + days! * DAY_MS)}") { cohorts { cohortStart size cells { offset retained rate rateOrLater } } }`,
  );
  // 2 aliases of 10 000 stored customers (20 000 rows), no id shared.
  const ids = Array.from({ length: 2 }, (_, a) => Array.from({ length: 10_000 }, (_, i) => `c${String((a * 10_000 + i) % customers).padStart(8, '0')}`));
  const customerAliases = ids.map((_, a) => `k${a}: customers(ids: $ids${a}) { customerId firstPurchaseAt lastPurchaseAt orders revenue { currency amount } country channel segment }`);
  // 4 kpiSeries of 34 months: 4 x 34 x 7 = 952 statements.
  const series = Array.from({ length: 4 }, (_, i) => `s${i}: kpiSeries(grain: MONTH, from: "2024-01-01T00:00:00Z", to: "2026-11-01T00:00:00Z", currency: "${['USD', 'EUR', 'GBP', 'JPY'][i]}") { from customers retentionRate nps }`);
  return [
    { name: '30 x retentionRate(DAY), 19 980 rows', query: `{ ${retention.join('\n')} }` },
    { name: 'retentionCohorts(DAY, periods: 120), 19 965 cells', query: `{ ${cohorts.join('\n')} }` },
    {
      name: '2 x customers(10 000 ids), 20 000 rows',
      query: `query Many(${ids.map((_, a) => `$ids${a}: [String!]!`).join(', ')}) { ${customerAliases.join('\n')} }`,
      variables: Object.fromEntries(ids.map((list, a) => [`ids${a}`, list])),
    },
    { name: '4 x kpiSeries(34 months), 952 statements', query: `{ ${series.join('\n')} }` },
  ];
}

function parseOptions(argv: string[]) {
  const o = { purchases: 1_000_000, concurrency: 6 };
  for (let i = 0; i < argv.length; i += 2) {
    const value = Number(argv[i + 1]);
    if (!(value > 0)) throw new Error(`${argv[i]} needs a positive number`);
    if (argv[i] === '--purchases') o.purchases = Math.round(value);
    else if (argv[i] === '--concurrency') o.concurrency = Math.round(value);
    else throw new Error(`unknown option ${argv[i]} (--purchases N, --concurrency C)`);
  }
  return o;
}

export async function main(argv: string[]): Promise<void> {
  const o = parseOptions(argv);
  const dir = await benchStore(o.purchases);
  const port = await freePort();
  // Sharing off: six identical documents at once would otherwise run once (server/shared-reads.ts),
  // and the point is six running side by side, as six different ones would.
  const service = node('server/main.ts', [], { DATA_DIR: dir, CLICKHOUSE_DATABASE: BENCH_DATABASE, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn', API_KEYS: '', GRAPHQL_SHARE_WINDOW_MS: '0' });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitFor('the service', async () => ((await fetch(`${url}/readyz`)).ok ? true : undefined), 120_000);
    const lines: string[] = [];
    for (const doc of documents(o.purchases / 10)) {
      const body = JSON.stringify({ query: doc.query, variables: doc.variables });
      // One alone first: it warms the caches and gives the answer's size.
      const first = await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      const text = await first.text();
      if (first.status >= 500 || (text.includes('"errors"') && !text.includes('"TIMEOUT"'))) throw new Error(`${doc.name}: ${text.slice(0, 500)}`);
      const failures = new Map<string, number>();
      let polling = true;
      let slowest = 0;
      const latencies: number[] = [];
      let peakRss = 0;
      const poller = (async () => {
        while (polling) {
          // A failed probe is reported, not fatal: the table says how many.
          const ms = await healthz(url).catch(() => undefined);
          if (ms === undefined) failures.set('healthz failed', (failures.get('healthz failed') ?? 0) + 1);
          else latencies.push(ms);
          slowest = Math.max(slowest, ms ?? 0);
          peakRss = Math.max(peakRss, rssMb(service.child.pid!));
          await new Promise((r) => setTimeout(r, 10));
        }
      })();
      const started = performance.now();
      const times = await Promise.all(
        Array.from({ length: o.concurrency }, async () => {
          const t = performance.now();
          const res = await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
          const answer = await res.text();
          // Six at once may run past GRAPHQL_MAX_REQUEST_TIME: counted, not fatal.
          const code = /"code":"([A-Z_]+)"/.exec(answer)?.[1];
          if (code) failures.set(code, (failures.get(code) ?? 0) + 1);
          return performance.now() - t;
        }),
      );
      const wall = performance.now() - started;
      polling = false;
      await poller;
      const line = `| ${doc.name} | ${(text.length / 1e6).toFixed(1)} MB | ${(Math.max(...times) / 1000).toFixed(1)} s | ${(wall / 1000).toFixed(1)} s | ${latencies.length} | ${latencies.sort((a, b) => a - b)[Math.floor(latencies.length * 0.99)]?.toFixed(0)} ms | ${slowest.toFixed(0)} ms | ${peakRss.toFixed(0)} MB | ${[...failures].map(([c, n]) => `${n} ${c}`).join(', ') || 'none'} |`;
      console.log(line);
      lines.push(line);
    }
    console.log(
      [
        '',
        `${o.purchases.toLocaleString('en-US')} purchases; ${o.concurrency} requests at once per document; load average at the end ${loadavg()[0]!.toFixed(1)} on ${cpus().length} cores.`,
        '',
        '| document | answer | slowest request | all done | /healthz polls | p99 /healthz | slowest /healthz | peak RSS | errors |',
        '|---|---|---|---|---|---|---|---|---|',
        ...lines,
      ].join('\n'),
    );
  } finally {
    service.child.kill('SIGTERM');
    await service.done.catch(() => undefined);
  }
}
