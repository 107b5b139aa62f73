import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClickHouseLogLevel, createClient, parseError } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../server/config.js';
import { explainConnectFailure, openStorage, StorageConnectError } from '../server/storage.js';
import { freePort, runTsx, STACK_FRAME, waitFor } from './helpers/process.js';

/**
 * Debian's clickhouse-server package ships 18.16: far below the supported minimum, which is
 * exactly what these tests need, a real server the service must refuse with a clear reason.
 */
const BINARY = [process.env.CLICKHOUSE_SERVER_BIN, '/usr/bin/clickhouse-server', '/usr/sbin/clickhouse-server'].find(
  (p): p is string => p !== undefined && existsSync(p),
);
if (!BINARY) {
  console.warn('server-mode tests skipped: no clickhouse-server binary (apt-get install clickhouse-server, or set CLICKHOUSE_SERVER_BIN)');
}

const USER = 'kpi';
const PASSWORD = 'kpi-test-password';

interface OldServer {
  url: string;
  stop(): Promise<void>;
}

async function startClickHouseServer(binary: string): Promise<OldServer> {
  const dir = mkdtempSync(join(tmpdir(), 'kpi-chserver-'));
  for (const sub of ['data', 'tmp', 'user_files', 'format_schemas', 'log']) mkdirSync(join(dir, sub));
  const [httpPort, tcpPort] = [await freePort(), await freePort()];
  writeFileSync(
    join(dir, 'config.xml'),
    `<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>${dir}/log/server.log</log><errorlog>${dir}/log/error.log</errorlog></logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>${httpPort}</http_port>
  <tcp_port>${tcpPort}</tcp_port>
  <path>${dir}/data/</path>
  <tmp_path>${dir}/tmp/</tmp_path>
  <user_files_path>${dir}/user_files/</user_files_path>
  <format_schema_path>${dir}/format_schemas/</format_schema_path>
  <users_config>${dir}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>5368709120</mark_cache_size>
</yandex>
`,
  );
  writeFileSync(
    join(dir, 'users.xml'),
    `<?xml version="1.0"?>
<yandex>
  <profiles><default/></profiles>
  <users>
    <${USER}>
      <password>${PASSWORD}</password>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </${USER}>
  </users>
  <quotas><default/></quotas>
</yandex>
`,
  );
  const child: ChildProcess = spawn(binary, [`--config-file=${dir}/config.xml`], { cwd: dir, stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let gone = false;
  void exited.then(() => (gone = true));
  const url = `http://127.0.0.1:${httpPort}`;
  try {
    await waitFor('clickhouse-server /ping', async () => {
      if (gone) throw new Error('exited');
      const r = await fetch(`${url}/ping`);
      return r.ok ? true : undefined;
    });
  } catch (e) {
    child.kill('SIGKILL');
    const log = existsSync(`${dir}/log/error.log`) ? readFileSync(`${dir}/log/error.log`, 'utf8').slice(-2000) : '(no error log)';
    throw new Error(`clickhouse-server did not start (${(e as Error).message}); its error log ends with:\n${log}`);
  }
  return {
    url,
    async stop() {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(killer);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function serverConfig(url: string, env: Record<string, string> = {}) {
  return loadConfig({ CLICKHOUSE_URL: url, CLICKHOUSE_USER: USER, CLICKHOUSE_PASSWORD: PASSWORD, ...env });
}

async function connectFailure(env: Record<string, string>, url: string): Promise<StorageConnectError> {
  const error = await openStorage(serverConfig(url, env)).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StorageConnectError);
  return error as StorageConnectError;
}

describe.skipIf(!BINARY)('server mode against a real clickhouse-server 18.16', () => {
  let server: OldServer;
  beforeAll(async () => {
    server = await startClickHouseServer(BINARY!);
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('refuses the server as too old, naming its version and the minimum', async () => {
    const e = await connectFailure({}, server.url);
    expect(e.reason).toBe('VERSION');
    expect(e.message).toMatch(new RegExp(`^ClickHouse at ${server.url} is version 18\\.16\\.\\d+; this service needs 23\\.8 or newer\\.$`));
  });

  it('names the old version first even when the configured database is missing too', async () => {
    const e = await connectFailure({ CLICKHOUSE_DATABASE: 'no_such_db' }, server.url);
    expect(e.reason).toBe('VERSION');
    expect(e.message).toMatch(/is version 18\.16\.\d+; this service needs 23\.8 or newer\.$/);
  });

  it('reports a wrong password as a credentials problem, from the old plain-text answer', async () => {
    const e = await connectFailure({ CLICKHOUSE_PASSWORD: 'not-the-password' }, server.url);
    expect(e.reason).toBe('AUTH');
    expect(e.message).toBe(`ClickHouse at ${server.url} refused the credentials of user "kpi": wrong CLICKHOUSE_USER or CLICKHOUSE_PASSWORD.`);
  });

  it('explains the old server\'s plain-text "database doesn\'t exist" answer', async () => {
    const client = createClient({ url: server.url, username: USER, password: PASSWORD, database: 'no_such_db', log: { level: ClickHouseLogLevel.OFF } });
    const raw = await client.query({ query: 'SELECT 1', format: 'TabSeparated' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    await client.close();
    expect(raw).toBeDefined();
    const e = explainConnectFailure(raw, serverConfig(server.url, { CLICKHOUSE_DATABASE: 'no_such_db' }));
    expect(e.reason).toBe('DATABASE');
    expect(e.message).toBe(
      `ClickHouse at ${server.url} has no database "no_such_db": create it (CREATE DATABASE no_such_db) or set CLICKHOUSE_DATABASE.`,
    );
  });

  it('npm start exits with code 3 and one line naming the version, without a stack trace', async () => {
    const r = await runTsx('server/main.ts', [], {
      CLICKHOUSE_URL: server.url,
      CLICKHOUSE_USER: USER,
      CLICKHOUSE_PASSWORD: PASSWORD,
      LOG_LEVEL: 'silent',
    });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(new RegExp(`^Cannot start: ClickHouse at ${server.url} is version 18\\.16\\.\\d+; this service needs 23\\.8 or newer\\.\\n$`));
    expect(r.stderr).not.toMatch(STACK_FRAME);
  });
});

describe('connection failures that need no server', () => {
  it('reports a port nobody listens on as unreachable', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const e = await connectFailure({}, url);
    expect(e.reason).toBe('UNREACHABLE');
    expect(e.message).toBe(`Cannot reach ClickHouse at ${url} (ECONNREFUSED): is the server running and CLICKHOUSE_URL right?`);
  });

  it('explains a current server\'s UNKNOWN_DATABASE error, with the ON CLUSTER hint on a cluster', () => {
    // The text a 24.x server sends, parsed by the client as it parses every server error.
    const raw = parseError('Code: 81. DB::Exception: Database kpi does not exist. (UNKNOWN_DATABASE) (version 24.8.4.13 (official build))');
    const url = 'http://ch.example:8123';
    const single = explainConnectFailure(raw, loadConfig({ CLICKHOUSE_URL: url, CLICKHOUSE_DATABASE: 'kpi' }));
    expect(single.reason).toBe('DATABASE');
    expect(single.message).toBe(`ClickHouse at ${url} has no database "kpi": create it (CREATE DATABASE kpi) or set CLICKHOUSE_DATABASE.`);
    const clustered = explainConnectFailure(raw, loadConfig({ CLICKHOUSE_URL: url, CLICKHOUSE_DATABASE: 'kpi', CLICKHOUSE_CLUSTER: 'c1' }));
    expect(clustered.message).toBe(`ClickHouse at ${url} has no database "kpi": create it (CREATE DATABASE kpi ON CLUSTER c1) or set CLICKHOUSE_DATABASE.`);
  });
});
