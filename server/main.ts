import { ConfigError, loadConfig } from './config.js';
import { createLogger } from './logger.js';
import { startService } from './service.js';
import { StorageConnectError } from './storage.js';
import { MigrationError } from './migrate.js';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(e.message);
      process.exit(2);
    }
    throw e;
  }
  const log = createLogger(config.logLevel);
  let service;
  try {
    service = await startService(config, log);
  } catch (e) {
    if (e instanceof StorageConnectError || e instanceof MigrationError) {
      log.fatal({ reason: (e as StorageConnectError).reason }, e.message);
      console.error(`Cannot start: ${e.message}`);
      process.exit(3);
    }
    throw e;
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
