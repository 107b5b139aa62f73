import { loadConfig } from './server/config.js';
import { createLogger } from './server/logger.js';
import { migrate } from './server/storage/migrate.js';
import { createExecutor } from './server/service.js';
import { openStorage } from './server/storage/client.js';
import { bulkOptions, fillBulkStore } from './bench/bulk.js';
const [dir, n] = process.argv.slice(2);
const config = loadConfig({ DATA_DIR: dir!, CLICKHOUSE_DATABASE: 'bench', LOG_LEVEL: 'error' });
const storage = await openStorage(config);
const exec = createExecutor(storage, config, createLogger('error'));
await migrate(exec);
await fillBulkStore(exec, bulkOptions(Number(n)), (t, ms) => console.log(t, Math.round(ms)));
for (const q of ["SELECT action, count(), countIf(tier IS NOT NULL), sum(points) FROM bench.loyalty_events GROUP BY action ORDER BY action",
  "SELECT stage, count(), uniqExact(campaign) FROM bench.touches GROUP BY stage ORDER BY stage",
  "SELECT count() FROM (SELECT customer_id, occurred_at FROM bench.loyalty_events GROUP BY 1,2 HAVING count() > 1)",
  "SELECT countIf(occurred_at >= '2026-11-01') FROM bench.loyalty_events"])
  console.log(JSON.stringify(await exec.rows({ query: q, query_params: {} }, { requestId: 'x' })));
await storage.close();
