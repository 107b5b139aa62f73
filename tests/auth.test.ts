import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashKey } from '../server/auth.js';
import { ConfigError, loadConfig } from '../server/config.js';
import { runTsx, STACK_FRAME } from './helpers/process.js';
import { startTestService, type TestService } from './helpers/service.js';

const DATABASE = 't_auth';
const READ = 'reader-secret-0123456789';
const INGEST = 'ingester-secret-0123456789';
const ADMIN = 'admin-secret-0123456789';
const API_KEYS = [
  `dashboards:read:${READ}`,
  // The preferred form: only the hash is configured.
  `pipeline:ingest:sha256:${hashKey(INGEST).toString('hex')}`,
  `ops:admin:${ADMIN}`,
].join(',');
const OPEN_HOST_REFUSED =
  'HOST=0.0.0.0 is not a loopback address and no API_KEYS are configured: refusing to expose an open service. ' +
  'Set API_KEYS (see README, "API keys") or bind to 127.0.0.1.';

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

async function post(url: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query: '{ storageVersion }' }),
  });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

describe('with API_KEYS on a public bind address', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService(DATABASE, { HOST: '0.0.0.0', API_KEYS });
  });
  afterAll(async () => {
    await svc?.stop();
  });

  it('answers a query without a key with 401 and a Bearer challenge', async () => {
    const r = await post(svc.url);
    expect(r.status).toBe(401);
    expect(r.headers.get('www-authenticate')).toBe('Bearer');
    expect(JSON.parse(r.text)).toEqual({
      errors: [{ message: 'Missing or malformed API key: send "Authorization: Bearer <key>"', extensions: expect.objectContaining({ code: 'UNAUTHENTICATED' }) }],
    });
  });

  it('answers a wrong key with 401 in the same shape, naming no key', async () => {
    for (const wrong of ['kpi_not-a-key-at-all-000000', READ.slice(0, -1), `${READ}x`]) {
      const r = await post(svc.url, bearer(wrong));
      expect(r.status).toBe(401);
      expect(r.headers.get('www-authenticate')).toBe('Bearer');
      expect(JSON.parse(r.text)).toEqual({ errors: [{ message: 'Invalid API key', extensions: expect.objectContaining({ code: 'UNAUTHENTICATED' }) }] });
      for (const secret of ['dashboards', 'pipeline', 'ops', 'read', 'ingest', 'admin', wrong]) expect(r.text).not.toContain(secret);
    }
  });

  it('answers a query with an ingest-only key with 403', async () => {
    const r = await svc.gql('{ storageVersion }', undefined, bearer(INGEST));
    expect(r.status).toBe(403);
    expect(r.data).toBeUndefined();
    expect(r.errors).toHaveLength(1);
    expect(r.errors![0]).toMatchObject({ message: 'This API key lacks the "read" scope', extensions: { code: 'FORBIDDEN' } });
  });

  it('answers a query with a read key and with an admin key', async () => {
    for (const key of [READ, ADMIN]) {
      const r = await svc.gql('{ storageVersion }', undefined, bearer(key));
      expect(r.status).toBe(200);
      expect(r.errors).toBeUndefined();
      expect(r.data).toEqual({ storageVersion: svc.storage.version });
    }
  });

  it('serves /healthz and /readyz without a key', async () => {
    expect((await fetch(`${svc.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${svc.url}/readyz`)).status).toBe(200);
  });
});

describe('with no API_KEYS on loopback', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService(DATABASE);
  });
  afterAll(async () => {
    await svc?.stop();
  });

  it('is open to requests with or without an Authorization header', async () => {
    for (const headers of [{}, bearer('anything-at-all-0000')]) {
      const r = await svc.gql('{ storageVersion }', undefined, headers);
      expect(r.status).toBe(200);
      expect(r.data).toEqual({ storageVersion: svc.storage.version });
    }
  });
});

describe('configuration of keys and bind address', () => {
  it('refuses a non-loopback bind without keys, saying how to fix it', () => {
    const error = (() => {
      try {
        loadConfig({ HOST: '0.0.0.0' });
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([OPEN_HOST_REFUSED]);
    expect((error as ConfigError).message).toBe(`Invalid configuration:\n  - ${OPEN_HOST_REFUSED}`);
  });

  it('accepts a non-loopback bind once keys are configured', () => {
    const config = loadConfig({ HOST: '0.0.0.0', API_KEYS });
    expect(config.host).toBe('0.0.0.0');
    expect(config.apiKeys.map((k) => [k.name, [...k.scopes]])).toEqual([
      ['dashboards', ['read']],
      ['pipeline', ['ingest']],
      ['ops', ['admin']],
    ]);
  });

  it('reports a malformed API_KEYS entry by position and name', () => {
    expect(() => loadConfig({ API_KEYS: `ok:read:${READ},bad:write:${READ}` })).toThrow(
      'API_KEYS: entry 2 (bad) has unknown scope "write" (known: read, ingest, admin)',
    );
    expect(() => loadConfig({ API_KEYS: 'short:read:tooshort' })).toThrow('API_KEYS: entry 1 (short) has a key shorter than 16 characters');
    expect(() => loadConfig({ API_KEYS: 'h:read:sha256:abc' })).toThrow('API_KEYS: entry 1 (h) has a malformed sha256 hash');
  });

  it('refuses empty names, duplicate names and one key listed twice, in the README\'s format', () => {
    const hash = hashKey(INGEST).toString('hex');
    const problem = (spec: string) => {
      try {
        loadConfig({ API_KEYS: spec });
      } catch (e) {
        return (e as ConfigError).problems;
      }
    };
    expect(problem(`:read:${READ}`)).toEqual(['API_KEYS: entry 1 has an empty name: write name:scope[+scope]:sha256:<hex> (or name:scope[+scope]:<plain key>)']);
    expect(problem(`a:read:${READ},b:read:${ADMIN},a:ingest:${INGEST}`)).toEqual(['API_KEYS: entry 1 (a) and entry 3 have the same name: names must be unique']);
    expect(problem(`a:read:sha256:${hash},b:ingest:${INGEST}`)).toEqual([
      'API_KEYS: entry 1 (a) and entry 2 (b) hold the same key: list each key once, with all its scopes joined by "+"',
    ]);
    expect(problem(`a:read:sha256:${hash},b:read:sha256:${hash.toUpperCase()}`)).toEqual([
      'API_KEYS: entry 1 (a) and entry 2 (b) hold the same key: list each key once, with all its scopes joined by "+"',
    ]);
    expect(problem('just-a-key-without-name')).toEqual(['API_KEYS: entry 1 is not name:scope[+scope]:sha256:<hex> (or name:scope[+scope]:<plain key>)']);
  });

  it('npm start on 0.0.0.0 without keys exits with code 2 and the reason, without a stack trace', async () => {
    const r = await runTsx('server/main.ts', [], { HOST: '0.0.0.0', DATA_DIR: '/nonexistent/never-opened' });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`Invalid configuration:\n  - ${OPEN_HOST_REFUSED}\n`);
    expect(r.stderr).not.toMatch(STACK_FRAME);
  });
});
