import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { createClient, ClickHouseError, ClickHouseLogLevel, type ClickHouseClient } from '@clickhouse/client';

export const MIN_SERVER_VERSION = '23.8';

/** Why the store cannot be used, phrased for the operator who has to fix it. */
export class StorageConnectError extends Error {
  constructor(
    message: string,
    public readonly reason: 'VERSION' | 'AUTH' | 'UNREACHABLE' | 'DATABASE' | 'LOCKED' | 'OTHER',
  ) {
    super(message);
    this.name = 'StorageConnectError';
  }
}

export interface ClickHouseServerConfig {
  /** Without userinfo: credentials given in CLICKHOUSE_URL move to user/password, so the URL is safe to print. */
  url: string;
  user: string;
  password: string;
  cluster: string | undefined;
}

/** What opening the store needs from the service's configuration (server/config.ts). */
export interface StorageConfig {
  dataDir: string;
  database: string;
  /** Set in server mode; embedded chDB otherwise. */
  server: ClickHouseServerConfig | undefined;
  requestTimeoutMs: number;
}

export interface Storage {
  client: ClickHouseClient;
  /**
   * Where urgent statements (QueryContext.urgent: the ingest path) go. Embedded, a second chDB
   * session on the same directory: chDB runs an insert (it has no parameters) beside the other
   * statements, but not beside one of its own session, so the ingest path's inserts get a
   * session the KPI reads do not hold. A server runs statements side by side: there it is
   * `client` itself.
   */
  ingestClient: ClickHouseClient;
  /**
   * Where the ingest log's applier inserts (QueryContext.behind). Embedded, a third session: the
   * acknowledgement path's look-ups run on the ingest session and would otherwise wait for the
   * applier's insert running there. A server: `client` itself.
   */
  applyClient: ClickHouseClient;
  database: string;
  mode: 'embedded' | 'server';
  cluster: string | undefined;
  version: string;
  /** Engine settings every statement runs with (PINNED_SETTINGS this engine knows). */
  settings: Record<string, string>;
  close(): Promise<void>;
}

/**
 * Optimizations whose results were wrong on the engine we ship, pinned off for every statement
 * (on engines that know the setting; older ones do not have the optimization).
 * - query_plan_join_swap_table: from the second run of a statement on, the engine may swap a
 *   join's sides on the row counts it cached from the first; on chDB 26.7 a swapped LEFT JOIN
 *   gave the left rows without a match default values (repeatPurchaseRateBy's null group lost
 *   the customers without a profile, and `1 AS w` read 0). Our joins put the small side on the
 *   right themselves.
 */
const PINNED_SETTINGS: Record<string, string> = { query_plan_join_swap_table: 'false' };

async function pinnedSettings(client: ClickHouseClient): Promise<Record<string, string>> {
  const rs = await client.query({
    query: 'SELECT name FROM system.settings WHERE name IN {names:Array(String)}',
    query_params: { names: Object.keys(PINNED_SETTINGS) },
    format: 'JSONEachRow',
  });
  const known = new Set((await rs.json<{ name: string }>()).map((r) => r.name));
  return Object.fromEntries(Object.entries(PINNED_SETTINGS).filter(([k]) => known.has(k)));
}

type ConnectionOption = NonNullable<Parameters<typeof createClient>[0]>['connection'];

/** libchdb binds one data directory per process; a second open of another one fails, so we keep track. */
let embeddedOpen: string | undefined;

export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map((x) => parseInt(x, 10) || 0);
  const pb = b.split('.').map((x) => parseInt(x, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

async function openEmbedded(config: StorageConfig): Promise<Storage> {
  const path = resolve(config.dataDir);
  if (embeddedOpen !== undefined && embeddedOpen !== path) {
    throw new StorageConnectError(
      `This process already has the embedded engine open on ${embeddedOpen}; one data directory per process.`,
      'LOCKED',
    );
  }
  mkdirSync(path, { recursive: true });
  const { Session } = await import('chdb');
  const { createChdbConnection } = await import('chdb/connection');
  // The engine takes its server configuration from the first connection to a directory, and
  // lives while any connection does; createChdbConnection passes none. BACKUP/RESTORE … File(path)
  // needs backups.allowed_path, so this session opens first with it and stays open until close.
  // '/' lets `npm run backup` name any directory: every statement is the service's own SQL
  // (nothing from a request is spliced in), and the route that takes a path is admin-only.
  const engine = new Session(path, { connectionArgs: ['--backups.allowed_path=/'] });
  const connection = createChdbConnection({ path }) as unknown as ConnectionOption;
  embeddedOpen = path;
  const client = createClient({ connection });
  const ingestClient = createClient({ connection: createChdbConnection({ path }) as unknown as ConnectionOption });
  const applyClient = createClient({ connection: createChdbConnection({ path }) as unknown as ConnectionOption });
  try {
    await client.command({ query: `CREATE DATABASE IF NOT EXISTS ${config.database}` });
    const version = await readVersion(client);
    const settings = await pinnedSettings(client);
    return {
      client,
      ingestClient,
      applyClient,
      database: config.database,
      mode: 'embedded',
      cluster: undefined,
      version,
      settings,
      async close() {
        await client.close();
        await ingestClient.close();
        await applyClient.close();
        engine.close();
        const chdb = await import('chdb');
        await chdb.drainPending();
        embeddedOpen = undefined;
      },
    };
  } catch (e) {
    await client.close().catch(() => undefined);
    await ingestClient.close().catch(() => undefined);
    await applyClient.close().catch(() => undefined);
    engine.close();
    embeddedOpen = undefined;
    throw e;
  }
}

async function readVersion(client: ClickHouseClient): Promise<string> {
  const rs = await client.query({ query: 'SELECT version() AS v', format: 'JSONEachRow' });
  const rows = await rs.json<{ v: string }>();
  return rows[0]!.v;
}

function missingDatabase(config: StorageConfig): StorageConnectError {
  const { url, cluster } = config.server!;
  return new StorageConnectError(
    `ClickHouse at ${url} has no database "${config.database}": create it (CREATE DATABASE ${config.database}${cluster ? ` ON CLUSTER ${cluster}` : ''}) or set CLICKHOUSE_DATABASE.`,
    'DATABASE',
  );
}

/** Turns a first-contact failure into one operator-facing sentence. */
export function explainConnectFailure(e: unknown, config: StorageConfig): StorageConnectError {
  const url = config.server!.url;
  const user = config.server!.user;
  if (e instanceof ClickHouseError) {
    const code = Number(e.code);
    if (code === 516 || code === 192 || code === 193 || e.type === 'AUTHENTICATION_FAILED') {
      return new StorageConnectError(
        `ClickHouse at ${url} refused the credentials of user "${user}": wrong CLICKHOUSE_USER or CLICKHOUSE_PASSWORD.`,
        'AUTH',
      );
    }
    if (code === 81 || e.type === 'UNKNOWN_DATABASE') return missingDatabase(config);
    return new StorageConnectError(`ClickHouse at ${url} answered with an error: ${e.message}`, 'OTHER');
  }
  const err = e as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
  const code = err.code ?? err.cause?.code;
  const msg = String(err.message ?? e);
  // Servers too old to know the JSONEachRow/HTTP features of the client answer in plain text.
  if (/authentication failed|password is incorrect|Wrong password|code: 516|code: 192|code: 193/i.test(msg)) {
    return new StorageConnectError(
      `ClickHouse at ${url} refused the credentials of user "${user}": wrong CLICKHOUSE_USER or CLICKHOUSE_PASSWORD.`,
      'AUTH',
    );
  }
  if (/Database .* doesn't exist|UNKNOWN_DATABASE|code: 81/i.test(msg)) return missingDatabase(config);
  if (code && ['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ETIMEDOUT', 'ECONNRESET', 'EAI_AGAIN'].includes(code)) {
    return new StorageConnectError(`Cannot reach ClickHouse at ${url} (${code}): is the server running and CLICKHOUSE_URL right?`, 'UNREACHABLE');
  }
  if (/timeout/i.test(msg)) {
    return new StorageConnectError(`Cannot reach ClickHouse at ${url}: the connection timed out.`, 'UNREACHABLE');
  }
  return new StorageConnectError(`Cannot use ClickHouse at ${url}: ${msg}`, 'OTHER');
}

function serverClient(config: StorageConfig, database: string | undefined): ClickHouseClient {
  const server = config.server!;
  return createClient({
    url: server.url,
    username: server.user,
    password: server.password,
    database,
    request_timeout: config.requestTimeoutMs,
    // Connection-level retries are ours: reads in Executor, inserts in EventWriter (docs/architecture.md).
    keep_alive: { enabled: true },
    application: 'retention-kpi-service',
    // Failures reach our log through the Executor with their request id; the client's own
    // console lines would repeat them with stack traces, also on an operator's startup error.
    log: { level: ClickHouseLogLevel.OFF },
  });
}

/**
 * Asked without a database, so a server that is too old is named as such even when the
 * database is missing too: upgrading is the first thing to fix. A plain-text query:
 * servers older than the client's JSON formats still answer it.
 */
async function readServerVersion(config: StorageConfig): Promise<string> {
  const probe = serverClient(config, undefined);
  try {
    const rs = await probe.query({ query: 'SELECT version()', format: 'TabSeparated' });
    return (await rs.text()).trim();
  } catch (e) {
    throw explainConnectFailure(e, config);
  } finally {
    await probe.close().catch(() => undefined);
  }
}

async function openServer(config: StorageConfig): Promise<Storage> {
  const server = config.server!;
  const version = await readServerVersion(config);
  if (compareVersions(version, MIN_SERVER_VERSION) < 0) {
    throw new StorageConnectError(
      `ClickHouse at ${server.url} is version ${version}; this service needs ${MIN_SERVER_VERSION} or newer.`,
      'VERSION',
    );
  }
  const client = serverClient(config, config.database);
  let settings: Record<string, string>;
  try {
    const rs = await client.query({
      query: 'SELECT count() AS n FROM system.databases WHERE name = {db:String}',
      query_params: { db: config.database },
      format: 'JSONEachRow',
    });
    const [row] = await rs.json<{ n: string | number }>();
    if (Number(row!.n) === 0) throw missingDatabase(config);
    settings = await pinnedSettings(client);
  } catch (e) {
    await client.close().catch(() => undefined);
    throw e instanceof StorageConnectError ? e : explainConnectFailure(e, config);
  }
  return {
    client,
    ingestClient: client,
    applyClient: client,
    database: config.database,
    mode: 'server',
    cluster: server.cluster,
    version,
    settings,
    close: () => client.close(),
  };
}

/** The one place that decides between the embedded engine and a ClickHouse server. */
export function openStorage(config: StorageConfig): Promise<Storage> {
  return config.server ? openServer(config) : openEmbedded(config);
}
