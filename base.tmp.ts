import { loadConfig } from './server/config.js';
import { openStorage } from './server/storage/client.js';
import { BASELINES } from './bench/kpis-cases.js';
const [dir, ...names] = process.argv.slice(2);
const config = loadConfig({ DATA_DIR: dir!, CLICKHOUSE_DATABASE: 'bench', LOG_LEVEL: 'error' });
const storage = await openStorage(config);
for (const name of names) for (const q of BASELINES[name]!) {
  const t = performance.now();
  try {
    const rs = await storage.client.query({ query: q.query, query_params: { ...q.query_params, db: 'bench' }, format: 'JSONEachRow' });
    const rows = await rs.json();
    console.log(name, Math.round(performance.now() - t), 'ms', JSON.stringify(rows).slice(0, 800));
  } catch (e) { console.log(name, String(e).slice(0, 800)); }
}
await storage.close();
