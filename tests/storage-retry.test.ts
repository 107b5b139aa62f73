import { connect, createServer, type Server, type Socket } from 'node:net';
import { ClickHouseLogLevel, createClient } from '@clickhouse/client';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { StorageUnavailableError } from '../server/storage/errors.js';
import { Executor, OutcomeUnknownError } from '../server/storage/executor.js';
import type { Storage } from '../server/storage/client.js';
import { freePort } from '../scripts/lib/process.js';
import { BINARY, PASSWORD, startClickHouseServer, USER, type OldServer } from './helpers/clickhouse-server.js';

// Connection-level retries of the Executor, against a real clickhouse-server (Debian's 18.16)
// behind a local TCP proxy that breaks chosen connections: a real socket reset, a hang-up
// after the request, a silent peer (client timeout), or a forward to the server. 18.16 knows
// neither query parameters nor one of our output settings, so the proxy strips those two
// from the URL of forwarded requests; the statements used here need neither.

type Action = 'reset' | 'hangup' | 'silent' | 'forward';

interface Proxy {
  url: string;
  /** Connections accepted so far: one per attempt (keep-alive is off). */
  connections(): number;
  close(): Promise<void>;
}

async function startProxy(upstream: string, script: Action[]): Promise<Proxy> {
  const target = new URL(upstream);
  let connections = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => undefined);
    const action = script[connections++] ?? 'forward';
    if (action === 'silent') return;
    client.once('data', (first: Buffer) => {
      if (action === 'reset') return client.resetAndDestroy();
      if (action === 'hangup') return client.destroy();
      const up = connect(Number(target.port), target.hostname);
      sockets.add(up);
      up.on('close', () => sockets.delete(up));
      up.on('error', () => client.destroy());
      const text = first.toString('latin1');
      const eol = text.indexOf('\r\n');
      const line = text.slice(0, eol).replace(/&(param_[^&= ]+|output_format_json_quote_decimals)=[^& ]*/g, '');
      up.write(Buffer.from(line + text.slice(eol), 'latin1'));
      client.pipe(up);
      up.pipe(client);
    });
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${port}`,
    connections: () => connections,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

function executorFor(url: string, maxRetries: number, warnings: string[] = []): Executor {
  const client = createClient({
    url,
    username: USER,
    password: PASSWORD,
    request_timeout: 1_000,
    keep_alive: { enabled: false },
    log: { level: ClickHouseLogLevel.OFF },
  });
  const storage: Storage = { client, ingestClient: client, applyClient: client, database: 'default', mode: 'server', cluster: undefined, version: '18.16', settings: {}, close: () => client.close() };
  const log = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(JSON.parse(line).msg) });
  return new Executor(storage, { maxExecutionTimeS: 10, maxMemoryBytes: 1e9, maxRetries }, log);
}

const ctx = { requestId: 'retry-test' };
const THREE = { query: 'SELECT number AS n FROM system.numbers LIMIT 3', query_params: {} };

describe.skipIf(!BINARY)('executor retries against a real clickhouse-server behind a faulty proxy', { timeout: 60_000 }, () => {
  let server: OldServer;
  let proxy: Proxy | undefined;
  beforeAll(async () => {
    server = await startClickHouseServer(BINARY!);
    const admin = createClient({ url: server.url, username: USER, password: PASSWORD, log: { level: ClickHouseLogLevel.OFF } });
    await admin.command({ query: 'CREATE TABLE default.retry_t (x UInt8) ENGINE = Memory' });
    await admin.close();
  });
  afterEach(async () => {
    await proxy?.close();
    proxy = undefined;
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('retries a read after a reset, a hang-up and a timeout, then returns the answer', async () => {
    proxy = await startProxy(server.url, ['reset', 'hangup', 'silent', 'forward']);
    const warnings: string[] = [];
    const exec = executorFor(proxy.url, 3, warnings);
    expect(await exec.rows(THREE, ctx)).toEqual([{ n: 0 }, { n: 1 }, { n: 2 }]);
    expect(proxy.connections()).toBe(4);
    expect(warnings).toEqual(Array(3).fill('connection failure; retrying the read'));
  });

  it('gives up after CLICKHOUSE_MAX_RETRIES retries with the service error', async () => {
    proxy = await startProxy(server.url, Array(10).fill('reset'));
    const exec = executorFor(proxy.url, 2);
    await expect(exec.rows(THREE, ctx)).rejects.toBeInstanceOf(StorageUnavailableError);
    expect(proxy.connections()).toBe(3);
  });

  it('retries a refused connection', async () => {
    const warnings: string[] = [];
    const exec = executorFor(`http://127.0.0.1:${await freePort()}`, 2, warnings);
    await expect(exec.rows(THREE, ctx)).rejects.toBeInstanceOf(StorageUnavailableError);
    expect(warnings).toEqual([...Array(2).fill('connection failure; retrying the read'), 'storage query failed']);
  });

  it('never retries an answer from the server', async () => {
    proxy = await startProxy(server.url, []);
    const exec = executorFor(proxy.url, 3);
    await expect(exec.rows({ query: 'SELECT no_such_column', query_params: {} }, ctx)).rejects.toBeInstanceOf(StorageUnavailableError);
    expect(proxy.connections()).toBe(1);
  });

  it('never retries a write: a lost connection makes its outcome unknown', async () => {
    proxy = await startProxy(server.url, ['hangup', 'forward']);
    const exec = executorFor(proxy.url, 3);
    const error = await exec.insert('retry_t', [{ x: 1 }], ctx).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OutcomeUnknownError);
    expect((error as OutcomeUnknownError).queryId).toMatch(/^retry-test-\d+$/);
    expect(proxy.connections()).toBe(1);
    await exec.insert('retry_t', [{ x: 2 }], ctx);
    expect(await exec.rows({ query: 'SELECT x FROM default.retry_t', query_params: {} }, ctx)).toEqual([{ x: 2 }]);
  });
});
