/**
 * `npm run bench -- <name> [options]`: one benchmark per subcommand. Each module exports
 * `main(argv)`; registering one is one line in BENCHMARKS.
 */
type Benchmark = { main(argv: string[]): Promise<void> };

const BENCHMARKS: Record<string, () => Promise<Benchmark>> = {
  kpis: () => import('./kpis.js'),
  clv: () => import('./clv.js'),
  ingest: () => import('./ingest.js'),
  import: () => import('./import.js'),
  states: () => import('./states.js'),
  healthz: () => import('./healthz.js'),
  backup: () => import('./backup.js'),
  erasure: () => import('./erasure.js'),
  alerts: () => import('./alerts.js'),
  steady: () => import('./steady.js'),
  scale: () => import('./scale.js'),
};

const [name, ...argv] = process.argv.slice(2);
const load = name === undefined ? undefined : BENCHMARKS[name];
if (!load) {
  console.error(`usage: npm run bench -- <${Object.keys(BENCHMARKS).join('|')}> [options]`);
  process.exit(2);
}
await (await load()).main(argv);
