import { isIP } from 'node:net';
import { parseApiKeys, type ApiKey } from './auth.js';
import { parseSnapshotSchedule, type ScheduledSnapshot } from './snapshots/scheduler.js';

/** Raised at start when the environment holds a value the service cannot run with. */
export class ConfigError extends Error {
  constructor(public readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export interface ClickHouseServerConfig {
  url: string;
  user: string;
  password: string;
  cluster: string | undefined;
}

export interface Config {
  port: number;
  host: string;
  dataDir: string;
  database: string;
  /** Set in server mode; embedded chDB otherwise. */
  server: ClickHouseServerConfig | undefined;
  requestTimeoutMs: number;
  maxRetries: number;
  queryMaxExecutionTimeS: number;
  queryMaxMemoryBytes: number;
  apiKeys: ApiKey[];
  introspection: boolean;
  graphqlMaxDepth: number;
  graphqlMaxAliases: number;
  graphqlMaxTokens: number;
  graphqlMaxCost: number;
  /** Per-request budget (GRAPHQL_MAX_RESULT_ROWS): result rows the cost model estimates, summed over the document. */
  graphqlMaxResultRows: number;
  /** Per-request budget (GRAPHQL_MAX_STATEMENTS): SQL statements the cost model estimates, summed over the document. */
  graphqlMaxStatements: number;
  /** Per-request deadline (GRAPHQL_MAX_REQUEST_TIME) in seconds: no statement starts after it, none runs past it. */
  graphqlMaxRequestTimeS: number;
  ingestMaxBodyBytes: number;
  ingestBatchLimit: number;
  reportingCurrency: string;
  grossMargin: number;
  /** SNAPSHOT_SCHEDULE; empty (the default) runs no scheduler. */
  snapshotSchedule: ScheduledSnapshot[];
  logLevel: string;
  production: boolean;
}

type Env = Record<string, string | undefined>;

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** One reader per value type; each records a problem instead of throwing so all of them are reported at once. */
class Reader {
  readonly problems: string[] = [];
  constructor(private readonly env: Env) {}

  string(name: string, fallback: string): string {
    const v = this.env[name];
    return v === undefined || v === '' ? fallback : v;
  }

  optional(name: string): string | undefined {
    const v = this.env[name];
    return v === undefined || v === '' ? undefined : v;
  }

  int(name: string, fallback: number, min: number, max: number): number {
    const raw = this.optional(name);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!/^-?\d+$/.test(raw.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      this.problems.push(`${name}=${JSON.stringify(raw)} is not an integer in [${min}, ${max}]`);
      return fallback;
    }
    return n;
  }

  number(name: string, fallback: number, min: number, max: number): number {
    const raw = this.optional(name);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min || n > max) {
      this.problems.push(`${name}=${JSON.stringify(raw)} is not a number in [${min}, ${max}]`);
      return fallback;
    }
    return n;
  }

  bool(name: string, fallback: boolean): boolean {
    const raw = this.optional(name);
    if (raw === undefined) return fallback;
    const v = raw.toLowerCase();
    if (['1', 'true', 'yes', 'on'].includes(v)) return true;
    if (['0', 'false', 'no', 'off'].includes(v)) return false;
    this.problems.push(`${name}=${JSON.stringify(raw)} is not a boolean (true/false)`);
    return fallback;
  }

  oneOf(name: string, fallback: string, allowed: string[]): string {
    const v = this.string(name, fallback);
    if (!allowed.includes(v)) {
      this.problems.push(`${name}=${JSON.stringify(v)} is not one of ${allowed.join(', ')}`);
      return fallback;
    }
    return v;
  }

  identifier(name: string, fallback: string): string {
    const v = this.string(name, fallback);
    if (!IDENTIFIER.test(v)) {
      this.problems.push(`${name}=${JSON.stringify(v)} must be a plain identifier (letters, digits, underscore)`);
      return fallback;
    }
    return v;
  }
}

export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  const kind = isIP(host);
  if (kind === 4) return host.startsWith('127.');
  if (kind === 6) return host === '::1';
  return false;
}

export function loadConfig(env: Env = process.env): Config {
  const r = new Reader(env);
  const url = r.optional('CLICKHOUSE_URL');
  if (url !== undefined) {
    try {
      const u = new URL(url);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('protocol');
    } catch {
      r.problems.push(`CLICKHOUSE_URL=${JSON.stringify(url)} is not an http(s) URL`);
    }
  }
  const cluster = r.optional('CLICKHOUSE_CLUSTER');
  if (cluster !== undefined && !IDENTIFIER.test(cluster)) {
    r.problems.push(`CLICKHOUSE_CLUSTER=${JSON.stringify(cluster)} must be a plain identifier`);
  }
  if (cluster !== undefined && url === undefined) {
    r.problems.push('CLICKHOUSE_CLUSTER needs CLICKHOUSE_URL: the embedded engine is a single node');
  }
  const host = r.string('HOST', '127.0.0.1');
  let apiKeys: ApiKey[] = [];
  try {
    apiKeys = parseApiKeys(r.string('API_KEYS', ''));
  } catch (e) {
    r.problems.push(`API_KEYS: ${(e as Error).message}`);
  }
  const currency = r.string('REPORTING_CURRENCY', 'USD');
  if (!/^[A-Z]{3}$/.test(currency)) r.problems.push(`REPORTING_CURRENCY=${JSON.stringify(currency)} is not an ISO 4217 code`);
  const schedule = parseSnapshotSchedule(r.string('SNAPSHOT_SCHEDULE', ''));
  r.problems.push(...schedule.problems);

  const config: Config = {
    port: r.int('PORT', 4000, 0, 65535),
    host,
    dataDir: r.string('DATA_DIR', './data'),
    database: r.identifier('CLICKHOUSE_DATABASE', url === undefined ? 'kpi' : 'default'),
    server:
      url === undefined
        ? undefined
        : {
            url,
            user: r.string('CLICKHOUSE_USER', 'default'),
            password: r.string('CLICKHOUSE_PASSWORD', ''),
            cluster,
          },
    requestTimeoutMs: r.int('CLICKHOUSE_REQUEST_TIMEOUT_MS', 60_000, 1_000, 3_600_000),
    maxRetries: r.int('CLICKHOUSE_MAX_RETRIES', 2, 0, 10),
    queryMaxExecutionTimeS: r.number('QUERY_MAX_EXECUTION_TIME', 30, 0.1, 3600),
    queryMaxMemoryBytes: r.int('QUERY_MAX_MEMORY_USAGE', 4 * 1024 ** 3, 1024 ** 2, 2 ** 50),
    apiKeys,
    introspection: r.bool('GRAPHQL_INTROSPECTION', true),
    graphqlMaxDepth: r.int('GRAPHQL_MAX_DEPTH', 12, 2, 100),
    graphqlMaxAliases: r.int('GRAPHQL_MAX_ALIASES', 30, 1, 1000),
    graphqlMaxTokens: r.int('GRAPHQL_MAX_TOKENS', 5000, 100, 1_000_000),
    graphqlMaxCost: r.int('GRAPHQL_MAX_COST', 20000, 100, 10_000_000),
    graphqlMaxResultRows: r.int('GRAPHQL_MAX_RESULT_ROWS', 20_000, 100, 100_000_000),
    graphqlMaxStatements: r.int('GRAPHQL_MAX_STATEMENTS', 1_000, 10, 1_000_000),
    graphqlMaxRequestTimeS: r.number('GRAPHQL_MAX_REQUEST_TIME', 120, 0.1, 86_400),
    ingestMaxBodyBytes: r.int('INGEST_MAX_BODY_BYTES', 256 * 1024 ** 2, 1024, 2 ** 40),
    ingestBatchLimit: r.int('INGEST_BATCH_LIMIT', 10_000, 1, 1_000_000),
    reportingCurrency: currency,
    grossMargin: r.number('GROSS_MARGIN', 1.0, 0, 1),
    snapshotSchedule: schedule.entries,
    logLevel: r.oneOf('LOG_LEVEL', 'info', LOG_LEVELS),
    production: env.NODE_ENV === 'production',
  };
  if (config.apiKeys.length === 0 && !isLoopback(host)) {
    r.problems.push(
      `HOST=${host} is not a loopback address and no API_KEYS are configured: refusing to expose an open service. ` +
        'Set API_KEYS (see README, "API keys") or bind to 127.0.0.1.',
    );
  }
  if (r.problems.length > 0) throw new ConfigError(r.problems);
  return config;
}
