import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type Config } from '../../server/config.js';
import { createLogger } from '../../server/logger.js';
import { startService, type Service } from '../../server/service.js';
import type { Clock } from '../../server/snapshots/scheduler.js';

/** One engine directory per vitest worker process; each test file gets its own database in it. */
export function workerDataDir(): string {
  const dir = join(process.env.KPI_TEST_RUN_DIR ?? tmpdir(), `kpi-tests-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

export function testConfig(database: string, env: Record<string, string> = {}): Config {
  return loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    DATA_DIR: workerDataDir(),
    CLICKHOUSE_DATABASE: database,
    LOG_LEVEL: 'silent',
    ...env,
  });
}

export interface TestService extends Service {
  gql<T = any>(query: string, variables?: Record<string, unknown>, headers?: Record<string, string>): Promise<{ data?: T; errors?: any; extensions?: any; status: number }>;
}

/** Starts the real service (real engine, real HTTP) on a free port; `clock` drives its jobs (schedulers, webhook deliveries). */
export async function startTestService(database: string, env: Record<string, string> = {}, now?: () => Date, clock?: Clock): Promise<TestService> {
  const config = testConfig(database, env);
  const service = await startService(config, createLogger('silent'), { ...(now ? { now } : {}), ...(clock ? { clock } : {}) });
  return Object.assign(service, {
    async gql(query: string, variables?: Record<string, unknown>, headers: Record<string, string> = {}) {
      const res = await fetch(`${service.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ query, variables }),
      });
      const body = (await res.json()) as { data?: any; errors?: any[]; extensions?: any };
      return { ...body, status: res.status };
    },
  });
}
