// npm run verify-state -- [--repair | --rebuild] [--url URL] [--key KEY]
// Compares every pre-aggregated state with the raw tables, hash partition by hash partition
// (docs/architecture.md, "Pre-aggregates: consistency and repair"); --repair rebuilds the
// partitions that differ, --rebuild all of them. When a service serves the DATA_DIR (or --url
// names one) the service does it, in its writer's queue; otherwise this opens the store itself.
// Exit codes: 0 every state equals the raw tables (after the repair, if asked); 1 some partition
// differs; 2 usage or configuration error; 3 the store or the service cannot be reached or failed.
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { StorageUnavailableError, TimeoutError } from '../server/storage/errors.js';
import { createLogger } from '../server/logger.js';
import { isEmptyDir } from '../server/storage/backup.js';
import { pendingMigrations } from '../server/storage/migrate.js';
import { lockDataDir, prepareDataDir, runningServer, StartupError } from '../server/preflight.js';
import { createExecutor } from '../server/service.js';
import { checkStates, StateCheckUnsupportedError, type RepairMode, type StateCheck } from '../server/storage/state-check.js';
import { openStorage, StorageConnectError } from '../server/storage/client.js';
import { fail, readConfig, storeLabel } from './lib/cli.js';

const USAGE = 'Usage: npm run verify-state -- [--repair | --rebuild] [--url URL] [--key KEY]';


let values: { repair?: boolean; rebuild?: boolean; url?: string; key?: string };
try {
  ({ values } = parseArgs({
    options: {
      repair: { type: 'boolean' },
      rebuild: { type: 'boolean' },
      url: { type: 'string', default: process.env.KPI_URL },
      key: { type: 'string', default: process.env.KPI_API_KEY },
    },
  }));
} catch (e) {
  fail(`${(e as Error).message}\n${USAGE}`, 2);
}
if (values.repair && values.rebuild) fail(`--repair and --rebuild exclude each other.\n${USAGE}`, 2);
const mode: RepairMode = values.rebuild ? 'all' : values.repair ? 'mismatched' : 'none';

function print(states: StateCheck[]): never {
  for (const s of states) {
    const bad = s.partitions.filter((p) => !p.ok);
    const rebuilt = s.repaired.length > 0 ? `, rebuilt partition(s) ${s.repaired.join(', ')}` : '';
    console.log(`${s.table}: ${bad.length === 0 ? `equal to the raw tables in all ${s.partitions.length} partitions` : `${bad.length} partition(s) differ`}${rebuilt}`);
    for (const p of bad) {
      const diffs = Object.keys(p.raw).filter((k) => p.raw[k] !== p.state[k]).map((k) => `${k} raw ${p.raw[k] || '-'} state ${p.state[k] || '-'}`);
      console.log(`  partition ${p.partition}: ${diffs.join('; ')}`);
    }
  }
  const ok = states.every((s) => s.ok);
  if (!ok && mode === 'none') console.log('Run again with --repair to rebuild the partitions that differ from the raw tables.');
  process.exit(ok ? 0 : 1);
}

const config = readConfig();

const serving = values.url ?? (config.server ? undefined : runningServer(config.dataDir)?.url);
if (serving) {
  // The embedded engine belongs to the service's process, and a repair must not interleave with
  // its inserts: the service runs the check in its writer's queue.
  const url = `${serving.replace(/\/+$/, '')}/v1/admin/verify-state?repair=${mode}`;
  console.log(`Asking the service at ${serving}`);
  const res = await fetch(url, { method: 'POST', headers: values.key ? { authorization: `Bearer ${values.key}` } : {} }).catch((e: unknown) =>
    fail(`Cannot reach the service at ${url}: ${(e as Error).message}`, 3),
  );
  const body = (await res.json().catch(() => ({}))) as { states?: StateCheck[]; error?: { message: string } };
  if (res.status === 401 || res.status === 403) fail(`The service refused: ${body.error?.message ?? res.status} (an admin key is needed: --key or KPI_API_KEY).`, 2);
  if (!res.ok || !body.states) fail(`The service at ${serving} answered ${res.status}: ${body.error?.message ?? 'no result'}`, 3);
  print(body.states);
}

const where = storeLabel(config);
// Opening a missing or empty DATA_DIR would make an empty store there, with nothing to check.
if (!config.server && isEmptyDir(config.dataDir)) fail(`DATA_DIR ${resolve(config.dataDir)} holds no store: nothing to check (check DATA_DIR).`, 2);
// Held while checking, so a service starting meanwhile is refused instead of opening the engine too.
let lock: ReturnType<typeof lockDataDir> | undefined;
if (!config.server) {
  try {
    prepareDataDir(config.dataDir);
    lock = lockDataDir(config.dataDir);
  } catch (e) {
    if (!(e instanceof StartupError)) throw e;
    fail(`Cannot check ${where}: ${e.message}`, 3);
  }
}
const storage = await openStorage(config).catch((e: unknown) => {
  lock?.release();
  if (e instanceof StorageConnectError) fail(`Cannot open ${where}: ${e.message}`, 3);
  throw e;
});
let states: StateCheck[];
try {
  console.log(`Comparing the pre-aggregated states of ${where} with the raw tables`);
  if (config.server && mode !== 'none') console.log('No service may write to this database meanwhile: a repair does not see inserts that run during it (use --url to go through the service).');
  const exec = createExecutor(storage, config, createLogger(config.logLevel));
  const pending = await pendingMigrations(exec);
  if (pending > 0) fail(`${pending} migration(s) not applied to ${where}: run npm run migrate first.`, 3);
  states = await checkStates(exec, { requestId: 'verify-state' }, mode);
} catch (e) {
  if (e instanceof StateCheckUnsupportedError) fail(e.message, 2);
  // The executor has logged the storage error in full; the operator gets its one-line reason.
  if (!(e instanceof StorageUnavailableError || e instanceof TimeoutError)) throw e;
  console.error(`Cannot check ${where}: ${e.message}`);
  process.exitCode = 3;
  states = [];
} finally {
  await storage.close();
  // A difference left unrepaired (or not known) keeps the lock file, so the service's next start checks the states.
  lock?.release({ keep: states! === undefined || states.some((c) => !c.ok && c.repaired.length === 0) });
}
if (process.exitCode !== 3) print(states);
