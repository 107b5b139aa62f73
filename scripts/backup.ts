// npm run backup -- DIR [--url URL] [--key KEY]
// Backs up the embedded store DATA_DIR names into DIR (new or empty) with the engine's BACKUP
// and a manifest (docs/architecture.md, "Backup and restore"). When a service serves DATA_DIR
// (or --url names one) the service makes it, between two groups of its writer's queue, so
// ingestion may go on; otherwise this opens the store itself. With --url, DIR is a path on the
// service's machine. Exit codes: 0 written; 2 usage or configuration error (server mode without
// --url, a wrong key); 3 the store or the service failed or cannot be reached; 4 DIR is not empty.
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createLogger } from '../server/logger.js';
import { lockDataDir, prepareDataDir, runningServer, StartupError } from '../server/preflight.js';
import { createExecutor } from '../server/service.js';
import { BackupError, backupStore, isEmptyDir, type BackupManifest } from '../server/storage/backup.js';
import { openStorage, StorageConnectError } from '../server/storage/client.js';
import { StorageUnavailableError, TimeoutError } from '../server/storage/errors.js';
import { fail, readConfig, storeLabel } from './lib/cli.js';

const USAGE = 'Usage: npm run backup -- DIR [--url URL] [--key KEY]';

let values: { url?: string; key?: string };
let positionals: string[];
try {
  ({ values, positionals } = parseArgs({
    allowPositionals: true,
    options: { url: { type: 'string', default: process.env.KPI_URL }, key: { type: 'string', default: process.env.KPI_API_KEY } },
  }));
} catch (e) {
  fail(`${(e as Error).message}\n${USAGE}`, 2);
}
if (positionals.length !== 1) fail(`Name one backup directory.\n${USAGE}`, 2);
const dir = resolve(positionals[0]!);
const config = readConfig();

function done(manifest: BackupManifest, started: number): never {
  const rows = Object.entries(manifest.tables).map(([t, n]) => `${t} ${n}`).join(', ');
  console.log(`Backup written to ${dir} in ${((performance.now() - started) / 1000).toFixed(1)} s: schema level ${manifest.schema.level}; rows: ${rows}`);
  process.exit(0);
}

const started = performance.now();
// Local paths are checked here too, for a message before any work; the one that counts is the service's.
if (values.url === undefined && !isEmptyDir(dir)) fail(`The backup directory ${dir} is not empty: name a new or empty directory.`, 4);
const serving = values.url ?? (config.server ? undefined : runningServer(config.dataDir)?.url);
if (serving) {
  const url = `${serving.replace(/\/+$/, '')}/v1/backups`;
  console.log(`Asking the service at ${serving}`);
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(values.key ? { authorization: `Bearer ${values.key}` } : {}) },
    body: JSON.stringify({ dir }),
  }).catch((e: unknown) => fail(`Cannot reach the service at ${url}: ${(e as Error).message}`, 3));
  const body = (await res.json().catch(() => ({}))) as { manifest?: BackupManifest; error?: { code: string; message: string } };
  if (res.status === 401 || res.status === 403) fail(`The service refused: ${body.error?.message ?? res.status} (an admin key is needed: --key or KPI_API_KEY).`, 2);
  if (body.error?.code === 'TARGET_NOT_EMPTY') fail(body.error.message, 4);
  if (res.status === 400) fail(`The service refused: ${body.error?.message ?? 'bad request'}`, 2);
  if (!res.ok || !body.manifest) fail(`The service at ${serving} answered ${res.status}: ${body.error?.message ?? 'no result'}`, 3);
  done(body.manifest, started);
}
if (config.server) {
  fail('CLICKHOUSE_URL names a ClickHouse server: back it up on the server with BACKUP DATABASE … TO Disk/S3 (README, "Backup and restore"), or name a service with --url.', 2);
}

// Opening a missing or empty DATA_DIR would make an empty store there, and a backup of nothing.
if (isEmptyDir(config.dataDir)) fail(`DATA_DIR ${resolve(config.dataDir)} holds no store: nothing to back up (check DATA_DIR).`, 2);
const where = storeLabel(config);
// Held while copying, so a service starting meanwhile is refused instead of writing during the copy.
let lock: ReturnType<typeof lockDataDir>;
try {
  prepareDataDir(config.dataDir);
  lock = lockDataDir(config.dataDir);
} catch (e) {
  if (!(e instanceof StartupError)) throw e;
  fail(`Cannot back up ${where}: ${e.message}`, 3);
}
const storage = await openStorage(config).catch((e: unknown) => {
  lock.release();
  if (e instanceof StorageConnectError) fail(`Cannot open ${where}: ${e.message}`, 3);
  throw e;
});
let manifest: BackupManifest | undefined;
try {
  console.log(`Backing up ${where}`);
  manifest = await backupStore(createExecutor(storage, config, createLogger(config.logLevel)), dir, { requestId: 'backup' });
} catch (e) {
  if (e instanceof BackupError) process.exitCode = e.problem === 'TARGET_NOT_EMPTY' ? 4 : 2;
  // The executor has logged the storage error in full; the operator gets its one-line reason.
  else if (e instanceof StorageUnavailableError || e instanceof TimeoutError) process.exitCode = 3;
  else throw e;
  console.error(`Cannot back up ${where}: ${(e as Error).message}`);
} finally {
  await storage.close();
  // Taken over from a service that did not stop cleanly: kept, so its next start still checks the states.
  lock.release({ keep: lock.unclean });
}
if (manifest) done(manifest, started);
