import type { Logger } from 'pino';
import { createApp, type App, type AppOptions } from './app.js';
import type { Config } from './config.js';
import { Executor } from './storage/executor.js';
import { migrate } from './storage/migrate.js';
import { openStorage, type Storage } from './storage/client.js';
import { features } from './features.js';
import { Erasures, type ErasureOptions } from './ingest/erasures.js';
import { EventWriter } from './ingest/writer.js';
import { listenError, preflight } from './preflight.js';

export interface Service {
  app: App;
  exec: Executor;
  storage: Storage;
  url: string;
  stop(): Promise<void>;
}

export function createExecutor(storage: Storage, config: Config, log: Logger): Executor {
  return new Executor(storage, { maxExecutionTimeS: config.queryMaxExecutionTimeS, maxMemoryBytes: config.queryMaxMemoryBytes, maxRetries: config.maxRetries }, log);
}

/** Opens storage, applies migrations, serves HTTP. The same path runs in production and in tests. */
export async function startService(
  config: Config,
  log: Logger,
  extra: Pick<AppOptions, 'now'> & Pick<ErasureOptions, 'afterStep'> = {},
): Promise<Service> {
  const lock = await preflight(config);
  let storage: Storage;
  try {
    storage = await openStorage(config);
  } catch (e) {
    lock?.release();
    throw e;
  }
  const exec = createExecutor(storage, config, log);
  try {
    const result = await migrate(exec, { onApply: (name) => log.info({ migration: name }, 'migration applied') });
    log.info({ applied: result.applied.length, alreadyApplied: result.alreadyApplied }, 'schema up to date');
    const erasures = new Erasures(exec, { key: config.erasureHmacKey, now: extra.now, afterStep: extra.afterStep });
    const writer = new EventWriter(exec, { checkStates: storage.cluster === undefined, erasures });
    const feature = await features({ config, exec, writer, log });
    // A crash in the middle of an insert can leave a state short of its raw rows: compare (and
    // repair) before ingest is accepted. Embedded, a lock file left behind by a process that is
    // gone marks a stop that was not clean (a clean stop with exact states removes it); a server
    // may have crashed on its own.
    if (storage.cluster === undefined && (lock === undefined || lock.unclean)) {
      // A failure leaves the writer refusing writes and /readyz saying why, rather than a
      // service that does not start.
      await writer.verifyStates('mismatched', 'start', { requestId: 'start' }).then(
        (checks) => log.info({ states: writer.health().lastCheck }, checks.some((c) => c.repaired.length > 0) ? 'pre-aggregated states repaired' : 'pre-aggregated states exact'),
        (e: unknown) => log.error({ err: e }, 'pre-aggregated states could not be checked'),
      );
    }
    // An erasure a crash interrupted is finished before any request is served; if it cannot be
    // (no key, storage down), the writer refuses writes and retries it before each write.
    await writer.finishErasures({ requestId: 'start' }).catch((e: unknown) => log.error({ err: e }, 'an unfinished erasure could not be finished'));
    const app = await createApp({ config, exec, writer, log, now: extra.now, routes: feature.routes, plugins: feature.plugins });
    const { port, host } = await app.listen().catch(async (e: unknown) => {
      await feature.stop();
      await app.apollo.stop();
      throw listenError(config.host, config.port, e);
    });
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
    lock?.update(url);
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
          lock?.release({ keep: writer.health().problem !== undefined });
        })();
        return stopping;
      },
    };
  } catch (e) {
    await storage.close();
    lock?.release();
    throw e;
  }
}
