import { resolve } from 'node:path';
import { StorageUnavailableError, TimeoutError } from '../server/storage/errors.js';
import { createLogger } from '../server/logger.js';
import { MigrationError, migrate } from '../server/storage/migrate.js';
import { lockDataDir, prepareDataDir, runningServer, StartupError } from '../server/preflight.js';
import { createExecutor } from '../server/service.js';
import { openStorage, StorageConnectError } from '../server/storage/client.js';
import { fail, readConfig, storeLabel } from './lib/cli.js';


const config = readConfig();
const where = storeLabel(config);
/** The embedded engine belongs to one process; the service migrates at start anyway. */
function takeDataDir(): ReturnType<typeof lockDataDir> | undefined {
  if (config.server) return undefined;
  const serviceHolds = () => {
    const other = runningServer(config.dataDir);
    if (other) {
      fail(`The service (pid ${other.pid}, ${other.url ?? 'still starting'}) is running on DATA_DIR ${resolve(config.dataDir)}: it applies migrations itself at start. Stop it and run this again, or just restart it.`, 3);
    }
  };
  serviceHolds();
  try {
    prepareDataDir(config.dataDir);
    // Held while migrating, so a service starting meanwhile is refused instead of opening the engine too.
    return lockDataDir(config.dataDir);
  } catch (e) {
    if (!(e instanceof StartupError)) throw e;
    serviceHolds();
    fail(`Cannot migrate ${where}: ${e.message}`, 3);
  }
}
const lock = takeDataDir();

const storage = await openStorage(config).catch((e: unknown) => {
  lock?.release();
  if (e instanceof StorageConnectError) fail(`Cannot migrate ${where}: ${e.message}`, 3);
  throw e;
});
try {
  console.log(`Migrating ${where}`);
  const exec = createExecutor(storage, config, createLogger(config.logLevel));
  const result = await migrate(exec, { onApply: (name) => console.log(`  applied ${name}`) });
  console.log(`Schema up to date: ${result.applied.length} applied now, ${result.alreadyApplied} already applied.`);
} catch (e) {
  // The executor has logged the storage error in full; the operator gets its one-line reason.
  if (!(e instanceof MigrationError || e instanceof StorageUnavailableError || e instanceof TimeoutError)) throw e;
  console.error(`Cannot migrate ${where}: ${e.message}`);
  process.exitCode = 3;
} finally {
  await storage.close();
  lock?.release();
}
