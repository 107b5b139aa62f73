import { request } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isLoopbackHostHeader } from '../server/auth.js';
import { startTestService, type TestService } from './helpers/service.js';

const KEY = 'http-safety-secret-0123456789';

/** Writes raw bytes on a fresh connection and resolves with everything the server sent once it closed the connection. */
function exchange(port: number, ...parts: string[]): { closed: Promise<string>; write(text: string): void } {
  const socket = connect(port, '127.0.0.1');
  let received = '';
  socket.on('data', (d: Buffer) => (received += d.toString('latin1')));
  const closed = new Promise<string>((resolve) => socket.once('close', () => resolve(received)));
  socket.on('error', () => undefined);
  for (const p of parts) socket.write(p);
  return { closed, write: (text) => socket.write(text) };
}

const statusOf = (raw: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1]);
const jsonOf = (raw: string) => JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)) as { error: { code: string; message: string } };

/** A GET with a Host header of our choosing (fetch does not let a caller set Host). */
function getWithHost(url: string, path: string, host: string | undefined): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ hostname, port, path, method: 'GET', setHost: host !== undefined, headers: host === undefined ? {} : { host } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString('utf8')));
      res.once('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.once('error', reject);
    req.end();
  });
}

describe('HTTP limits and open mode', () => {
  let svc: TestService;
  let port: number;
  beforeAll(async () => {
    svc = await startTestService('t_http_safety', {
      HTTP_HEADERS_TIMEOUT_MS: '100',
      HTTP_BODY_IDLE_TIMEOUT_MS: '1500',
      HTTP_BODY_BUFFER_BYTES: String(64 * 1024),
      HTTP_KEEP_ALIVE_TIMEOUT_MS: '50',
    });
    port = Number(new URL(svc.url).port);
  });
  afterAll(async () => {
    await svc?.stop();
  });

  it('answers a body that stopped arriving with 408 and closes the connection', async () => {
    const body = JSON.stringify({ query: '{ storageVersion }' });
    const raw = await exchange(
      port,
      `POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`,
      body.slice(0, 10),
    ).closed;
    expect(statusOf(raw)).toBe(408);
    expect(raw).toMatch(/\r\nconnection: close\r\n/i);
    expect(jsonOf(raw).error).toMatchObject({ code: 'REQUEST_TIMEOUT' });
    expect(jsonOf(raw).error.message).toContain('HTTP_BODY_IDLE_TIMEOUT_MS');
  });

  it('answers headers that stopped arriving with 408 and closes the connection', async () => {
    const raw = await exchange(port, 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n').closed;
    expect(statusOf(raw)).toBe(408);
    expect(jsonOf(raw).error).toMatchObject({ code: 'REQUEST_TIMEOUT' });
  });

  it('answers a request that is not valid HTTP with the JSON error too (spec section 10), and closes', async () => {
    const post = 'POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-ndjson\r\n';
    const badChunk = await exchange(port, `${post}Transfer-Encoding: chunked\r\n\r\nzz\r\n`).closed;
    const badLength = await exchange(port, `${post}Content-Length: abc\r\n\r\n`).closed;
    const hugeHeaders = await exchange(port, `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: ${'x'.repeat(20 * 1024)}\r\n\r\n`).closed;
    for (const [raw, status, code] of [[badChunk, 400, 'BAD_REQUEST'], [badLength, 400, 'BAD_REQUEST'], [hugeHeaders, 431, 'HEADERS_TOO_LARGE']] as const) {
      expect(statusOf(raw)).toBe(status);
      expect(raw).toMatch(/\r\ncontent-type: application\/json; charset=utf-8\r\n/i);
      expect(raw).toMatch(/\r\nconnection: close\r\n/i);
      expect(jsonOf(raw).error.code).toBe(code);
    }
    expect(jsonOf(badChunk).error.message).toMatch(/^The request is not valid HTTP\/1\.1: .+\.$/);
  });

  it('closes a kept-alive connection that stays idle', async () => {
    const raw = await exchange(port, 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n').closed;
    expect(statusOf(raw)).toBe(200);
    expect(raw).toMatch(/\r\nkeep-alive: timeout=0\r\n/i);
  });

  it('refuses to buffer more unfinished bodies than HTTP_BODY_BUFFER_BYTES, then serves again', async () => {
    // Two bodies of 50 KiB each, 40 KiB of each sent: together over the 64 KiB budget, so one is refused.
    const body = JSON.stringify({ query: '{ storageVersion }', extensions: { pad: 'x'.repeat(50 * 1024) } });
    const head = `POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
    const a = exchange(port, head, body.slice(0, 40 * 1024));
    const b = exchange(port, head, body.slice(0, 40 * 1024));
    const first = await Promise.race([a.closed.then((raw) => ({ raw, other: b })), b.closed.then((raw) => ({ raw, other: a }))]);
    expect(statusOf(first.raw)).toBe(503);
    expect(jsonOf(first.raw).error).toMatchObject({ code: 'SERVICE_BUSY' });
    expect(jsonOf(first.raw).error.message).toContain('HTTP_BODY_BUFFER_BYTES');
    // The refused connection's share was given back: the other body fits now.
    first.other.write(body.slice(40 * 1024));
    const rest = await first.other.closed;
    expect(statusOf(rest)).toBe(200);
  });

  it('in open mode refuses a Host that is not a loopback name, on every route', async () => {
    for (const path of ['/healthz', '/readyz', '/graphql?query=%7BstorageVersion%7D', '/v1/events', '/metrics', '/']) {
      for (const host of ['rebind.example', 'rebind.example:' + port, '127.0.0.1.rebind.example', '10.0.0.1']) {
        const r = await getWithHost(svc.url, path, host);
        expect(r.status).toBe(403);
        expect(JSON.parse(r.body).error).toMatchObject({ code: 'FORBIDDEN_HOST' });
        expect(JSON.parse(r.body).error.message).toContain(JSON.stringify(host));
      }
    }
  });

  it('in open mode serves loopback names, with or without a port, in any case', async () => {
    for (const host of ['localhost', `localhost:${port}`, 'LocalHost', '127.0.0.1', `127.0.0.1:${port}`, '127.0.0.2', '[::1]', `[::1]:${port}`]) {
      expect((await getWithHost(svc.url, '/healthz', host)).status).toBe(200);
    }
  });
});

describe('Host names', () => {
  it('counts only localhost, 127.0.0.0/8 and [::1] as loopback', () => {
    for (const h of ['localhost', 'LOCALHOST:80', '127.0.0.1', '127.255.1.2:4000', '[::1]', '[0:0:0:0:0:0:0:1]:4000']) {
      expect(isLoopbackHostHeader(h)).toBe(true);
    }
    for (const h of [undefined, '', 'localhost.rebind.example', 'rebind.example', 'evil@localhost', 'localhost/x', '128.0.0.1', '[::2]', '0.0.0.0', 'localhost:port']) {
      expect(isLoopbackHostHeader(h)).toBe(false);
    }
  });
});

describe('HTTP with API keys', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService('t_http_safety', {
      API_KEYS: `ops:read:${KEY}`,
      HTTP_HEADERS_TIMEOUT_MS: '100',
      HTTP_REQUEST_TIMEOUT_MS: '400',
      HTTP_BODY_IDLE_TIMEOUT_MS: '60000',
    });
  });
  afterAll(async () => {
    await svc?.stop();
  });

  it('answers a body that keeps trickling past the whole-request deadline with 408', async () => {
    const body = JSON.stringify({ query: '{ storageVersion }', extensions: { pad: 'x'.repeat(10_000) } });
    const conn = exchange(
      Number(new URL(svc.url).port),
      `POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${KEY}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`,
    );
    // One byte at a time: never idle, never finished.
    let sent = 0;
    const trickle = setInterval(() => conn.write(body[sent++]!), 20);
    const raw = await conn.closed;
    clearInterval(trickle);
    expect(statusOf(raw)).toBe(408);
    expect(sent).toBeLessThan(body.length);
  });

  it('does not restrict Host once keys are configured', async () => {
    expect((await getWithHost(svc.url, '/healthz', 'kpi.internal.example')).status).toBe(200);
  });
});
