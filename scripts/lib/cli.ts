import { resolve } from 'node:path';
import { ConfigError, loadConfig, type Config } from '../../server/config.js';

/** One line on stderr and the exit code the CLI documents: no stack trace for a user's mistake. */
export function fail(message: string, code: number): never {
  console.error(message);
  process.exit(code);
}

/** The service's configuration, or exit 2 with every problem of the environment listed. */
export function readConfig(): Config {
  try {
    return loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) fail(e.message, 2);
    throw e;
  }
}

/** The store a CLI works on, as its messages name it. */
export function storeLabel(config: Config): string {
  return `${config.server ? config.server.url : resolve(config.dataDir)}, database ${config.database}`;
}
