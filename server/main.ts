import { ConfigError, loadConfig } from './config.js';
import { createLogger } from './logger.js';
import { preflight, StartupError } from './preflight.js';

/**
 * Every failure to start ends the same way: one line on stderr and exit code 2 (README,
 * "Configuration"). Messages name URLs without credentials (config.ts moves them out).
 */
function cannotStart(message: string): never {
  console.error(message);
  process.exit(2);
}

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) cannotStart(e.message);
    throw e;
  }
  const log = createLogger(config.logLevel);
  // Before the schema and the engine load: a busy port or a bad DATA_DIR is told in a moment.
  const held = await preflight(config).catch((e: unknown) => {
    if (!(e instanceof StartupError)) throw e;
    log.fatal({ reason: e.name }, e.message);
    cannotStart(`Cannot start: ${e.message}`);
  });
  const { startService } = await import('./service.js');
  const { StorageConnectError } = await import('./storage/client.js');
  const { MigrationError } = await import('./storage/migrate.js');
  let service;
  try {
    service = await startService(config, log);
  } catch (e) {
    if (e instanceof StartupError || e instanceof StorageConnectError || e instanceof MigrationError) {
      log.fatal({ reason: e instanceof StorageConnectError ? e.reason : e.name }, e.message);
      cannotStart(`Cannot start: ${e.message}`);
    }
    // Not foreseen, so a bug or an environment problem: the stack goes to the log, the operator gets the gist.
    log.fatal({ err: e }, 'unexpected error at start');
    cannotStart(`Cannot start: ${(e as Error).message ?? String(e)} (details in the log)`);
  } finally {
    // The service holds DATA_DIR itself once started.
    held?.release();
  }
  log.info({ url: service.url, storage: service.storage.mode, version: service.storage.version }, 'listening');
  const shutdown = (signal: string) => {
    log.info({ signal }, 'shutting down: finishing in-flight requests');
    service
      .stop()
      .then(() => {
        log.info('stopped cleanly');
        process.exit(0);
      })
      .catch((err) => {
        log.error({ err }, 'unclean shutdown');
        process.exit(1);
      });
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

await main();
