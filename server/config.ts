import { isIP } from 'node:net';
import { z } from 'zod';
import { ISO_4217 } from '../loaders/event-codes.js';
import { parseApiKeys, type ApiKey } from './auth.js';
import { NO_HOSTS, parseAllowedHosts, type AllowedHosts } from './notifications/allowed-hosts.js';
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
  /** GRAPHQL_SHARE_WINDOW_MS: an identical query arriving this soon after a running one shares its answer; 0 never shares (server/shared-reads.ts). */
  graphqlShareWindowMs: number;
  ingestMaxBodyBytes: number;
  ingestBatchLimit: number;
  /** INGEST: false on a read replica, which takes no writer lease and refuses every write (docs/architecture.md, "One writer"). */
  ingest: boolean;
  /**
   * INGEST_LOG: acknowledge events once they are in the writer's durable log under DATA_DIR and
   * apply them to the tables behind it (embedded only; default on there: docs/architecture.md,
   * "Acknowledged before the views").
   */
  ingestLog: boolean;
  /** The writer lease's lifetime and renewal period (server mode only: embedded, the DATA_DIR lock is the one writer). */
  writerLease: { ttlMs: number; renewMs: number };
  /** COMMENT_RETENTION_DAYS; undefined keeps survey comments forever (docs/architecture.md, "Feedback retention"). */
  commentRetentionDays: number | undefined;
  http: HttpLimits;
  /** REPORTING_CURRENCY; unset, money KPIs default to USD (spec section 6). */
  reportingCurrency: string | undefined;
  grossMargin: number;
  /** SNAPSHOT_SCHEDULE; empty (the default) runs no scheduler. */
  snapshotSchedule: ScheduledSnapshot[];
  /** ERASURE_HMAC_KEY; unset, erasures are refused (and writes too once erasures exist). */
  erasureHmacKey: string | undefined;
  /** WEBHOOK_ALLOWED_HOSTS: the only hosts webhooks may target; empty, no webhook can be created or sent. */
  webhookAllowedHosts: AllowedHosts;
  /** WEBHOOK_TIMEOUT_MS: one delivery attempt, answer included. */
  webhookTimeoutMs: number;
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

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

// Each message below is the tail of a problem: loadConfig puts the variable and its value before it.
function int(min: number, max: number) {
  const message = `is not an integer in [${min}, ${max}]`;
  return z.string().trim().regex(/^-?\d+$/, message).transform(Number).pipe(z.int(message).min(min, message).max(max, message));
}

/** Any JavaScript number literal (1e3, 0x10 too), as Number() reads it. */
function number(min: number, max: number) {
  const message = `is not a number in [${min}, ${max}]`;
  return z.string().transform(Number).pipe(z.number(message).min(min, message).max(max, message));
}

const bool = z.stringbool({ truthy: ['1', 'true', 'yes', 'on'], falsy: ['0', 'false', 'no', 'off'], error: 'is not a boolean (true/false)' });
const identifier = z.string().regex(IDENTIFIER, 'must be a plain identifier (letters, digits, underscore)');

function isHttpUrl(raw: string): boolean {
  return URL.canParse(raw) && ['http:', 'https:'].includes(new URL(raw).protocol);
}

/**
 * Every variable the service reads: its type, range and default (README, "Configuration").
 * API_KEYS and SNAPSHOT_SCHEDULE are read by their own parsers, the checks across variables
 * follow the parse in loadConfig.
 */
const ENV = z.object({
  PORT: int(0, 65535).default(4000),
  HOST: z.string().default('127.0.0.1'),
  DATA_DIR: z.string().default('./data'),
  NODE_ENV: z.string().optional(),
  LOG_LEVEL: z.enum(LOG_LEVELS, `is not one of ${LOG_LEVELS.join(', ')}`).default('info'),
  API_KEYS: z.string().default(''),
  CLICKHOUSE_URL: z.string().refine(isHttpUrl, 'is not an http(s) URL').optional(),
  CLICKHOUSE_USER: z.string().optional(),
  CLICKHOUSE_PASSWORD: z.string().optional(),
  /** Default: kpi embedded, default on a server. */
  CLICKHOUSE_DATABASE: identifier.optional(),
  CLICKHOUSE_CLUSTER: identifier.optional(),
  CLICKHOUSE_REQUEST_TIMEOUT_MS: int(1_000, 3_600_000).default(60_000),
  CLICKHOUSE_MAX_RETRIES: int(0, 10).default(2),
  QUERY_MAX_EXECUTION_TIME: number(0.1, 3600).default(30),
  QUERY_MAX_MEMORY_USAGE: int(1024 ** 2, 2 ** 50).default(4 * 1024 ** 3),
  GRAPHQL_INTROSPECTION: bool.default(true),
  GRAPHQL_MAX_DEPTH: int(2, 100).default(12),
  GRAPHQL_MAX_ALIASES: int(1, 1000).default(30),
  GRAPHQL_MAX_TOKENS: int(100, 1_000_000).default(5000),
  GRAPHQL_MAX_COST: int(100, 10_000_000).default(20000),
  GRAPHQL_MAX_RESULT_ROWS: int(100, 100_000_000).default(20_000),
  GRAPHQL_MAX_STATEMENTS: int(10, 1_000_000).default(1_000),
  GRAPHQL_MAX_REQUEST_TIME: number(0.1, 86_400).default(120),
  GRAPHQL_SHARE_WINDOW_MS: int(0, 60_000).default(1_000),
  INGEST_MAX_BODY_BYTES: int(1024, 2 ** 40).default(256 * 1024 ** 2),
  INGEST_BATCH_LIMIT: int(1, 1_000_000).default(10_000),
  INGEST: bool.default(true),
  INGEST_LOG: bool.optional(),
  // A holder that cannot renew stops writing one renewal period before its lease expires, so the
  // lease must outlive at least two periods (checked below).
  WRITER_LEASE_TTL_MS: int(1_000, 3_600_000).default(30_000),
  WRITER_LEASE_RENEW_MS: int(100, 1_200_000).default(10_000),
  // Unset: comments are kept forever. At most about 1000 years, ClickHouse's Date32 range.
  COMMENT_RETENTION_DAYS: int(1, 365_000).optional(),
  // Unset: money KPIs default to USD (loaders/reporting-currency.ts).
  REPORTING_CURRENCY: z.string().refine((c) => ISO_4217.has(c), 'is not an ISO 4217 code').optional(),
  GROSS_MARGIN: number(0, 1).default(1.0),
  SNAPSHOT_SCHEDULE: z.string().default(''),
  HTTP_HEADERS_TIMEOUT_MS: int(10, 600_000).default(20_000),
  HTTP_BODY_IDLE_TIMEOUT_MS: int(10, 3_600_000).default(30_000),
  // 256 MiB (INGEST_MAX_BODY_BYTES) in 15 minutes: a client must average about 300 KB/s.
  HTTP_REQUEST_TIMEOUT_MS: int(10, 86_400_000).default(900_000),
  HTTP_KEEP_ALIVE_TIMEOUT_MS: int(10, 600_000).default(5_000),
  HTTP_BODY_BUFFER_BYTES: int(1024, 2 ** 40).default(64 * 1024 ** 2),
  // Erased customers are kept only as HMAC-SHA256 under this key (docs/architecture.md, "Erasure").
  ERASURE_HMAC_KEY: z.string().min(16, 'is shorter than 16 characters: use a random secret, e.g. openssl rand -hex 32').optional(),
  // Comma-separated host or host:port entries (docs/webhooks.md); parsed below.
  WEBHOOK_ALLOWED_HOSTS: z.string().default(''),
  WEBHOOK_TIMEOUT_MS: int(100, 120_000).default(10_000),
});
type Setting = keyof typeof ENV.shape;

/** Every variable the service reads; the look-alike check below refuses near misses of these. */
export const SETTINGS = Object.keys(ENV.shape) as Setting[];

/** Never printed, not even when refused. */
const SECRETS = new Set<Setting>(['ERASURE_HMAC_KEY']);

/** Read by this project's CLIs and boards, not by the service: never a look-alike. */
const OTHER_OWN = new Set(['KPI_URL', 'KPI_API_KEY', 'KPI_API_URL', 'IMPORT_HMAC_KEY']);
/** Prefixes no other software is known to use: any unknown name under them is a mistake. QUERY_STRING is CGI's. */
const OWN_PREFIXES = ['GRAPHQL_MAX_', 'INGEST_', 'QUERY_', 'SNAPSHOT_', 'REPORTING_', 'WRITER_LEASE_', 'WEBHOOK_'];
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

export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  const kind = isIP(host);
  if (kind === 4) return host.startsWith('127.');
  if (kind === 6) return host === '::1';
  return false;
}

export function loadConfig(env: Env = process.env): Config {
  const problems: string[] = [];
  for (const name of Object.keys(env).sort()) {
    const problem = env[name] === undefined ? undefined : lookAlikeProblem(name);
    if (problem) problems.push(problem);
  }
  // An empty variable counts as unset.
  const given = Object.fromEntries(SETTINGS.filter((name) => env[name] !== undefined && env[name] !== '').map((name) => [name, env[name]!]));
  const parsed = ENV.safeParse(given);
  const refused = new Set<Setting>();
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const name = issue.path[0] as Setting;
      // One problem per variable (a huge integer is both unsafe and out of range); values are printed without a URL's password.
      if (!refused.has(name)) problems.push(`${name}=${SECRETS.has(name) ? '(hidden)' : JSON.stringify(redactUrl(given[name]!))} ${issue.message}`);
      refused.add(name);
    }
  }
  // The refused variables take their defaults, so the checks across variables below still run and every problem is reported at once.
  const v = parsed.success ? parsed.data : ENV.parse(Object.fromEntries(Object.entries(given).filter(([name]) => !refused.has(name as Setting))));

  const url = v.CLICKHOUSE_URL;
  const credentials = url === undefined ? undefined : urlCredentials(url, v, problems);
  // Set at all, refused or not: a cluster name, however wrong, asks for a server.
  if (given.CLICKHOUSE_CLUSTER !== undefined && given.CLICKHOUSE_URL === undefined) {
    problems.push('CLICKHOUSE_CLUSTER needs CLICKHOUSE_URL: the embedded engine is a single node');
  }
  // A server's writer may change hosts (the writer lease): a log on one host's disk could be left behind.
  if (v.INGEST_LOG === true && url !== undefined) {
    problems.push('INGEST_LOG=on needs the embedded store (no CLICKHOUSE_URL): on a server, events are acknowledged once inserted');
  }
  let apiKeys: ApiKey[] = [];
  try {
    apiKeys = parseApiKeys(v.API_KEYS);
  } catch (e) {
    problems.push(`API_KEYS: ${(e as Error).message}`);
  }
  let webhookAllowedHosts = NO_HOSTS;
  try {
    webhookAllowedHosts = parseAllowedHosts(v.WEBHOOK_ALLOWED_HOSTS);
  } catch (e) {
    problems.push(`WEBHOOK_ALLOWED_HOSTS: ${(e as Error).message}`);
  }
  const schedule = parseSnapshotSchedule(v.SNAPSHOT_SCHEDULE);
  problems.push(...schedule.problems);
  if (apiKeys.length === 0 && !isLoopback(v.HOST)) {
    problems.push(
      `HOST=${v.HOST} is not a loopback address and no API_KEYS are configured: refusing to expose an open service. ` +
        'Set API_KEYS (see README, "API keys") or bind to 127.0.0.1.',
    );
  }
  if (v.HTTP_HEADERS_TIMEOUT_MS > v.HTTP_REQUEST_TIMEOUT_MS) {
    problems.push(
      `HTTP_HEADERS_TIMEOUT_MS=${v.HTTP_HEADERS_TIMEOUT_MS} exceeds HTTP_REQUEST_TIMEOUT_MS=${v.HTTP_REQUEST_TIMEOUT_MS}: the headers are part of the request`,
    );
  }
  if (v.WRITER_LEASE_TTL_MS < 2 * v.WRITER_LEASE_RENEW_MS) {
    problems.push(
      `WRITER_LEASE_TTL_MS=${v.WRITER_LEASE_TTL_MS} is less than twice WRITER_LEASE_RENEW_MS=${v.WRITER_LEASE_RENEW_MS}: the holder stops writing one renewal period before its lease expires, and must have renewed at least once by then`,
    );
  }
  if (problems.length > 0) throw new ConfigError(problems);

  return {
    port: v.PORT,
    host: v.HOST,
    dataDir: v.DATA_DIR,
    database: v.CLICKHOUSE_DATABASE ?? (url === undefined ? 'kpi' : 'default'),
    server:
      url === undefined
        ? undefined
        : {
            url: credentials?.url ?? url,
            user: credentials?.user ?? v.CLICKHOUSE_USER ?? 'default',
            password: credentials?.password ?? v.CLICKHOUSE_PASSWORD ?? '',
            cluster: v.CLICKHOUSE_CLUSTER,
          },
    requestTimeoutMs: v.CLICKHOUSE_REQUEST_TIMEOUT_MS,
    maxRetries: v.CLICKHOUSE_MAX_RETRIES,
    queryMaxExecutionTimeS: v.QUERY_MAX_EXECUTION_TIME,
    queryMaxMemoryBytes: v.QUERY_MAX_MEMORY_USAGE,
    apiKeys,
    introspection: v.GRAPHQL_INTROSPECTION,
    graphqlMaxDepth: v.GRAPHQL_MAX_DEPTH,
    graphqlMaxAliases: v.GRAPHQL_MAX_ALIASES,
    graphqlMaxTokens: v.GRAPHQL_MAX_TOKENS,
    graphqlMaxCost: v.GRAPHQL_MAX_COST,
    graphqlMaxResultRows: v.GRAPHQL_MAX_RESULT_ROWS,
    graphqlMaxStatements: v.GRAPHQL_MAX_STATEMENTS,
    graphqlMaxRequestTimeS: v.GRAPHQL_MAX_REQUEST_TIME,
    graphqlShareWindowMs: v.GRAPHQL_SHARE_WINDOW_MS,
    ingestMaxBodyBytes: v.INGEST_MAX_BODY_BYTES,
    ingestBatchLimit: v.INGEST_BATCH_LIMIT,
    ingest: v.INGEST,
    ingestLog: v.INGEST_LOG ?? url === undefined,
    writerLease: { ttlMs: v.WRITER_LEASE_TTL_MS, renewMs: v.WRITER_LEASE_RENEW_MS },
    commentRetentionDays: v.COMMENT_RETENTION_DAYS,
    http: {
      headersTimeoutMs: v.HTTP_HEADERS_TIMEOUT_MS,
      bodyIdleTimeoutMs: v.HTTP_BODY_IDLE_TIMEOUT_MS,
      requestTimeoutMs: v.HTTP_REQUEST_TIMEOUT_MS,
      keepAliveTimeoutMs: v.HTTP_KEEP_ALIVE_TIMEOUT_MS,
      bodyBufferBytes: v.HTTP_BODY_BUFFER_BYTES,
    },
    reportingCurrency: v.REPORTING_CURRENCY,
    grossMargin: v.GROSS_MARGIN,
    snapshotSchedule: schedule.entries,
    erasureHmacKey: v.ERASURE_HMAC_KEY,
    webhookAllowedHosts,
    webhookTimeoutMs: v.WEBHOOK_TIMEOUT_MS,
    logLevel: v.LOG_LEVEL,
    production: v.NODE_ENV === 'production',
  };
}

/**
 * Credentials written into CLICKHOUSE_URL (an http(s) URL by now) move to user/password,
 * leaving a URL that every message and log line may print. Giving them in both places is
 * refused as ambiguous.
 */
function urlCredentials(
  raw: string,
  v: z.infer<typeof ENV>,
  problems: string[],
): { url: string; user: string | undefined; password: string | undefined } | undefined {
  const u = new URL(raw);
  if (u.username === '' && u.password === '') return undefined;
  if (v.CLICKHOUSE_USER !== undefined || v.CLICKHOUSE_PASSWORD !== undefined) {
    problems.push('CLICKHOUSE_URL holds a user name or password and CLICKHOUSE_USER/CLICKHOUSE_PASSWORD are set too: give the credentials in one place');
    return undefined;
  }
  return {
    url: raw.replace(/^(https?:\/\/)[^@/?#]*@/i, '$1'),
    user: u.username === '' ? undefined : decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
  };
}
