import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { createApp, type App, type AppOptions } from './app.js';
import type { Config } from './config.js';
import { Executor } from './executor.js';
import { migrate } from './migrate.js';
import { openStorage, StorageConnectError, type Storage } from './storage.js';
import { features } from './features.js';
import { EventWriter } from './ingest/writer.js';

export interface Service {
  app: App;
  exec: Executor;
  storage: Storage;
  url: string;
  stop(): Promise<void>;
}

const LOCK_FILE = '.service.json';

/** Who serves a data directory right now, so CLIs go through it instead of opening it twice. */
export function runningServer(dataDir: string): { pid: number; url: string } | undefined {
  const file = join(resolve(dataDir), LOCK_FILE);
  if (!existsSync(file)) return undefined;
  try {
    const info = JSON.parse(readFileSync(file, 'utf8')) as { pid: number; url: string };
    process.kill(info.pid, 0);
    return info;
  } catch {
    return undefined;
  }
}

export function createExecutor(storage: Storage, config: Config, log: Logger): Executor {
  return new Executor(storage, { maxExecutionTimeS: config.queryMaxExecutionTimeS, maxMemoryBytes: config.queryMaxMemoryBytes, maxRetries: config.maxRetries }, log);
}

/** Opens storage, applies migrations, serves HTTP. The same path runs in production and in tests. */
export async function startService(
  config: Config,
  log: Logger,
  extra: Pick<AppOptions, 'now'> = {},
): Promise<Service> {
  if (!config.server) {
    const other = runningServer(config.dataDir);
    if (other && other.pid !== process.pid) {
      throw new StorageConnectError(`Another service (pid ${other.pid}, ${other.url}) already serves DATA_DIR ${resolve(config.dataDir)}.`, 'LOCKED');
    }
  }
  const storage = await openStorage(config);
  const exec = createExecutor(storage, config, log);
  try {
    const result = await migrate(exec, { onApply: (name) => log.info({ migration: name }, 'migration applied') });
    log.info({ applied: result.applied.length, alreadyApplied: result.alreadyApplied }, 'schema up to date');
    const writer = new EventWriter(exec, { checkStates: storage.cluster === undefined });
    const feature = await features({ config, exec, writer, log });
    const lockFile = config.server ? undefined : join(resolve(config.dataDir), LOCK_FILE);
    // A crash in the middle of an insert can leave a state short of its raw rows: compare (and
    // repair) before ingest is accepted. Embedded, a lock file left behind marks a stop that was
    // not clean (a clean stop with exact states removes it); a server may have crashed on its own.
    if (storage.cluster === undefined && (lockFile === undefined || existsSync(lockFile))) {
      // A failure leaves the writer refusing writes and /readyz saying why, rather than a
      // service that does not start.
      await writer.verifyStates('mismatched', 'start', { requestId: 'start' }).then(
        (checks) => log.info({ states: writer.health().lastCheck }, checks.some((c) => c.repaired.length > 0) ? 'pre-aggregated states repaired' : 'pre-aggregated states exact'),
        (e: unknown) => log.error({ err: e }, 'pre-aggregated states could not be checked'),
      );
    }
    const app = await createApp({ config, exec, writer, log, ...extra, routes: feature.routes, plugins: feature.plugins });
    const { port, host } = await app.listen();
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
    if (lockFile) writeFileSync(lockFile, JSON.stringify({ pid: process.pid, url }));
    let stopping: Promise<void> | undefined;
    return {
      app,
      exec,
      storage,
      url,
      stop() {
        stopping ??= (async () => {
          await app.close();
          await feature.stop();
          await storage.close();
          // Kept while the states may be short, so the next start checks them.
          if (lockFile && writer.health().problem === undefined) rmSync(lockFile, { force: true });
        })();
        return stopping;
      },
    };
  } catch (e) {
    await storage.close();
    throw e;
  }
}
