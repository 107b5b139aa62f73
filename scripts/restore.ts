// npm run restore -- DIR
// Restores a backup made by `npm run backup` into the embedded store DATA_DIR names, which must
// be empty (or missing) and served by no service, then checks every table's row count against
// the backup's manifest (docs/architecture.md, "Backup and restore"). Migrations newer than the
// backup are applied by the service's next start. Exit codes: 0 restored and counts equal; 2
// usage or configuration error, DIR is not a backup; 3 the store failed or the restored counts
// differ (DATA_DIR then holds a partial restore: empty it before trying again); 4 DATA_DIR is
// not empty or a service serves it; 5 the backup's schema is newer than this service's. The
// first start on the restored store compares its pre-aggregated states with the raw tables.
import { rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createLogger } from '../server/logger.js';
import { lockDataDir, prepareDataDir, runningServer, StartupError } from '../server/preflight.js';
import { createExecutor } from '../server/service.js';
import { BackupError, checkSchema, isEmptyDir, readManifest, RESTORE_MARKER, restoreStore, type BackupManifest } from '../server/storage/backup.js';
import { openStorage, StorageConnectError } from '../server/storage/client.js';
import { StorageUnavailableError, TimeoutError } from '../server/storage/errors.js';
import { fail, readConfig } from './lib/cli.js';

const USAGE = 'Usage: npm run restore -- DIR';

let positionals: string[];
try {
  ({ positionals } = parseArgs({ allowPositionals: true, options: {} }));
} catch (e) {
  fail(`${(e as Error).message}\n${USAGE}`, 2);
}
if (positionals.length !== 1) fail(`Name one backup directory.\n${USAGE}`, 2);
const dir = resolve(positionals[0]!);
const config = readConfig();
if (config.server) fail('CLICKHOUSE_URL names a ClickHouse server: restore on the server with RESTORE DATABASE … FROM Disk/S3 (README, "Backup and restore").', 2);

let manifest: BackupManifest;
try {
  manifest = readManifest(dir);
  checkSchema(manifest, dir);
} catch (e) {
  if (!(e instanceof BackupError)) throw e;
  fail(e.message, e.problem === 'NEWER_SCHEMA' ? 5 : 2);
}
const dataDir = resolve(config.dataDir);
const holder = runningServer(dataDir);
if (holder) fail(`A service (pid ${holder.pid}, ${holder.url ?? 'starting'}) serves DATA_DIR ${dataDir}: restore into an empty DATA_DIR no service uses.`, 4);
if (!isEmptyDir(dataDir)) fail(`DATA_DIR ${dataDir} is not empty: restore into an empty or new directory.`, 4);

let lock: ReturnType<typeof lockDataDir>;
try {
  prepareDataDir(dataDir);
  lock = lockDataDir(dataDir);
} catch (e) {
  if (!(e instanceof StartupError)) throw e;
  fail(`Cannot restore into DATA_DIR ${dataDir}: ${e.message}`, 4);
}
const started = performance.now();
const storage = await openStorage(config).catch((e: unknown) => {
  lock.release();
  if (e instanceof StorageConnectError) fail(`Cannot open DATA_DIR ${dataDir}: ${e.message}`, 3);
  throw e;
});
let counts: Record<string, number> | undefined;
// Until the restored store is checked, DATA_DIR is marked: a service refuses to start on a
// restore that failed half way (server/preflight.ts).
const marker = join(dataDir, RESTORE_MARKER);
writeFileSync(marker, `restore of ${dir} began ${new Date().toISOString()}\n`);
try {
  console.log(`Restoring ${dir} (made ${manifest.createdAt}, schema level ${manifest.schema.level}) into ${dataDir}, database ${config.database}`);
  counts = await restoreStore(createExecutor(storage, config, createLogger(config.logLevel)), dir, manifest, { requestId: 'restore' });
} catch (e) {
  if (!(e instanceof BackupError || e instanceof StorageUnavailableError || e instanceof TimeoutError)) throw e;
  // The executor has logged a storage error in full; the operator gets its one-line reason.
  console.error(`Restore into DATA_DIR ${dataDir} failed: ${e.message} A service will not start on it: empty DATA_DIR before trying again.`);
  process.exitCode = 3;
} finally {
  await storage.close();
  // Left behind on purpose: the first start then compares the restored states with the raw
  // tables (and rebuilds what differs), as after an unclean stop. A backup made without a
  // service, of a store that had crashed, may hold states short of their raw rows.
  lock.release({ keep: true });
}
if (counts) {
  rmSync(marker);
  console.log(`Restored in ${((performance.now() - started) / 1000).toFixed(1)} s; rows equal to the manifest: ${Object.entries(counts).map(([t, n]) => `${t} ${n}`).join(', ')}`);
}
