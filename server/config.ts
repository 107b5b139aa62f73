import { isIP } from 'node:net';
import { ISO_4217 } from '../loaders/event-codes.js';
import { parseApiKeys, type ApiKey } from './auth.js';
import { parseSnapshotSchedule, type ScheduledSnapshot } from './snapshots/schedule.js';
import type { ClickHouseServerConfig } from './storage/client.js';

/** Raised at start when the environment holds a value the service cannot run with. */
export class ConfigError extends Error {
  constructor(public readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
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
  http: HttpLimits;
  /** REPORTING_CURRENCY; unset, money KPIs default to the store's most frequent currency. */
  reportingCurrency: string | undefined;
  grossMargin: number;
  /** SNAPSHOT_SCHEDULE; empty (the default) runs no scheduler. */
  snapshotSchedule: ScheduledSnapshot[];
  logLevel: string;
  production: boolean;
}

/** How long and how much a client may hold the service's HTTP side (README, "Configuration"). */
export interface HttpLimits {
  headersTimeoutMs: number;
  /** No byte for this long while a request body is unfinished: 408, connection closed. */
  bodyIdleTimeoutMs: number;
  /** The whole request, body included, must arrive within this time. */
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
  /** Bytes of unfinished bodies buffered whole (GraphQL) across all connections. */
  bodyBufferBytes: number;
}

type Env = Record<string, string | undefined>;

/** Every variable the service reads; the look-alike check below refuses near misses of these. */
export const SETTINGS = [
  'PORT', 'HOST', 'DATA_DIR', 'NODE_ENV', 'LOG_LEVEL', 'API_KEYS',
  'CLICKHOUSE_URL', 'CLICKHOUSE_USER', 'CLICKHOUSE_PASSWORD', 'CLICKHOUSE_DATABASE', 'CLICKHOUSE_CLUSTER',
  'CLICKHOUSE_REQUEST_TIMEOUT_MS', 'CLICKHOUSE_MAX_RETRIES', 'QUERY_MAX_EXECUTION_TIME', 'QUERY_MAX_MEMORY_USAGE',
  'GRAPHQL_INTROSPECTION', 'GRAPHQL_MAX_DEPTH', 'GRAPHQL_MAX_ALIASES', 'GRAPHQL_MAX_TOKENS', 'GRAPHQL_MAX_COST',
  'GRAPHQL_MAX_RESULT_ROWS', 'GRAPHQL_MAX_STATEMENTS', 'GRAPHQL_MAX_REQUEST_TIME',
  'INGEST_MAX_BODY_BYTES', 'INGEST_BATCH_LIMIT', 'REPORTING_CURRENCY', 'GROSS_MARGIN', 'SNAPSHOT_SCHEDULE',
  'HTTP_HEADERS_TIMEOUT_MS', 'HTTP_BODY_IDLE_TIMEOUT_MS', 'HTTP_REQUEST_TIMEOUT_MS', 'HTTP_KEEP_ALIVE_TIMEOUT_MS',
  'HTTP_BODY_BUFFER_BYTES',
] as const;

/** Read by this project's CLIs and boards, not by the service: never a look-alike. */
const OTHER_OWN = new Set(['KPI_URL', 'KPI_API_KEY', 'KPI_API_URL', 'IMPORT_HMAC_KEY']);
/** Prefixes no other software is known to use: any unknown name under them is a mistake. QUERY_STRING is CGI's. */
const OWN_PREFIXES = ['GRAPHQL_MAX_', 'INGEST_', 'QUERY_', 'SNAPSHOT_', 'REPORTING_'];
const FOREIGN = new Set(['QUERY_STRING']);

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length]!;
}

/**
 * A set variable that is not ours but looks like it (a typo, a singular, another case, an
 * unknown name under one of our own prefixes) would otherwise be ignored in silence. Short
 * names (PORT, HOST) are compared exactly only: HOME or PWD are one or two edits away.
 */
export function lookAlikeProblem(name: string): string | undefined {
  if ((SETTINGS as readonly string[]).includes(name) || OTHER_OWN.has(name) || FOREIGN.has(name)) return undefined;
  const upper = name.toUpperCase();
  const ranked = SETTINGS.map((s) => ({ s, d: editDistance(upper, s) })).sort((x, y) => x.d - y.d);
  const best = ranked[0]!;
  const near = best.s.length >= 8 && best.d <= (best.s.length >= 16 ? 3 : best.s.length >= 12 ? 2 : 1);
  if (near || upper === best.s) return `${name} is not a setting of this service: did you mean ${best.s}?`;
  const prefix = OWN_PREFIXES.find((p) => upper.startsWith(p));
  if (prefix === undefined) return undefined;
  const family = SETTINGS.filter((s) => s.startsWith(prefix) || s.startsWith(prefix.replace(/MAX_$/, '')));
  return `${name} is not a setting of this service (known: ${family.join(', ')})`;
}

/** CLICKHOUSE_URL as safe to print: the password of its userinfo replaced. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:@/?#]*):[^@/?#]*@/i, '$1:***@');
}

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
  for (const name of Object.keys(env).sort()) {
    const problem = env[name] === undefined ? undefined : lookAlikeProblem(name);
    if (problem) r.problems.push(problem);
  }
  const url = r.optional('CLICKHOUSE_URL');
  const credentials = url === undefined ? undefined : urlCredentials(url, r);
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
  // Unset: money KPIs default to the store's most frequent currency (loaders/reporting-currency.ts).
  const currency = r.string('REPORTING_CURRENCY', '') || undefined;
  if (currency !== undefined && !ISO_4217.has(currency)) r.problems.push(`REPORTING_CURRENCY=${JSON.stringify(currency)} is not an ISO 4217 code`);
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
            url: credentials?.url ?? url,
            user: credentials?.user ?? r.string('CLICKHOUSE_USER', 'default'),
            password: credentials?.password ?? r.string('CLICKHOUSE_PASSWORD', ''),
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
    http: {
      headersTimeoutMs: r.int('HTTP_HEADERS_TIMEOUT_MS', 20_000, 10, 600_000),
      bodyIdleTimeoutMs: r.int('HTTP_BODY_IDLE_TIMEOUT_MS', 30_000, 10, 3_600_000),
      // 256 MiB (INGEST_MAX_BODY_BYTES) in 15 minutes: a client must average about 300 KB/s.
      requestTimeoutMs: r.int('HTTP_REQUEST_TIMEOUT_MS', 900_000, 10, 86_400_000),
      keepAliveTimeoutMs: r.int('HTTP_KEEP_ALIVE_TIMEOUT_MS', 5_000, 10, 600_000),
      bodyBufferBytes: r.int('HTTP_BODY_BUFFER_BYTES', 64 * 1024 ** 2, 1024, 2 ** 40),
    },
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
  if (config.http.headersTimeoutMs > config.http.requestTimeoutMs) {
    r.problems.push(
      `HTTP_HEADERS_TIMEOUT_MS=${config.http.headersTimeoutMs} exceeds HTTP_REQUEST_TIMEOUT_MS=${config.http.requestTimeoutMs}: the headers are part of the request`,
    );
  }
  if (r.problems.length > 0) throw new ConfigError(r.problems);
  return config;
}

/**
 * Credentials written into CLICKHOUSE_URL move to user/password, leaving a URL that every
 * message and log line may print. Giving them in both places is refused as ambiguous.
 */
function urlCredentials(raw: string, r: Reader): { url: string; user: string | undefined; password: string | undefined } | undefined {
  let u: URL;
  try {
    u = new URL(raw);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('protocol');
  } catch {
    r.problems.push(`CLICKHOUSE_URL=${JSON.stringify(redactUrl(raw))} is not an http(s) URL`);
    return undefined;
  }
  if (u.username === '' && u.password === '') return undefined;
  if (r.optional('CLICKHOUSE_USER') !== undefined || r.optional('CLICKHOUSE_PASSWORD') !== undefined) {
    r.problems.push('CLICKHOUSE_URL holds a user name or password and CLICKHOUSE_USER/CLICKHOUSE_PASSWORD are set too: give the credentials in one place');
    return undefined;
  }
  return {
    url: raw.replace(/^(https?:\/\/)[^@/?#]*@/i, '$1'),
    user: u.username === '' ? undefined : decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
  };
}
