import { cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Executor } from '../../server/storage/executor.js';
import { createLogger } from '../../server/logger.js';
import { MIGRATIONS_DIR } from '../../server/storage/migrate.js';
import { createExecutor } from '../../server/service.js';
import { openStorage, type Storage } from '../../server/storage/client.js';
import { testConfig } from './service.js';

/**
 * For tests that drive the migration runner themselves: the worker's engine on an empty
 * `database` (the engine directory outlives a test file, so it is dropped first) and a private
 * copy of the migration files that `keep` accepts, which a test may edit or add to.
 * `close()` releases both.
 */
export async function migrationSandbox(database: string, keep: (file: string) => boolean = () => true) {
  const config = testConfig(database);
  const storage: Storage = await openStorage(config);
  const exec: Executor = createExecutor(storage, config, createLogger('silent'));
  const ctx = { requestId: 'test' };
  await exec.command(`DROP DATABASE IF EXISTS ${database}`, ctx);
  await exec.command(`CREATE DATABASE ${database}`, ctx);
  const dir = mkdtempSync(join(tmpdir(), `${database}-migrations-`));
  for (const f of readdirSync(MIGRATIONS_DIR).filter((f) => f.endsWith('.sql') && keep(f))) cpSync(join(MIGRATIONS_DIR, f), join(dir, f));
  return {
    exec,
    dir,
    close: async () => {
      await storage.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
