import { ClickHouseLogLevel, createClient, parseError } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../server/config.js';
import { explainConnectFailure, openStorage, StorageConnectError } from '../server/storage/client.js';
import { freePort } from '../scripts/lib/process.js';
import { BINARY, PASSWORD, startClickHouseServer, USER, type OldServer } from './helpers/clickhouse-server.js';
import { runTsx, STACK_FRAME } from './helpers/process.js';

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

  it('npm start exits with code 2 and one line naming the version, without a stack trace', async () => {
    const r = await runTsx('server/main.ts', [], {
      CLICKHOUSE_URL: server.url,
      CLICKHOUSE_USER: USER,
      CLICKHOUSE_PASSWORD: PASSWORD,
      LOG_LEVEL: 'silent',
    });
    expect(r.code).toBe(2);
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
