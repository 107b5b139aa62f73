import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { runningServer } from '../server/preflight.js';
import { freePort, waitFor } from '../scripts/lib/process.js';
import { startServiceProcess, type ServiceProcess } from '../scripts/lib/service-process.js';
import { runTsx, STACK_FRAME } from './helpers/process.js';

const dirs: string[] = [];
const running: ServiceProcess[] = [];

afterEach(async () => {
  for (const s of running.splice(0)) await s.kill();
});
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Each test has its own DATA_DIR, so none depends on what another left behind. */
function freshDataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'kpi-lifecycle-'));
  dirs.push(dir);
  return dir;
}

/** `npm start` on `dataDir`; the lock file names the service's own process and its URL. */
async function start(dataDir: string, env: Record<string, string> = {}): Promise<ServiceProcess> {
  const service = await startServiceProcess(dataDir, env);
  running.push(service);
  expect(JSON.parse(readFileSync(join(dataDir, '.service.json'), 'utf8')).url).toBe(service.url);
  return service;
}

/**
 * A GraphQL POST whose body is held back, so it stays in flight for as long as the test wants.
 * It asks `Expect: 100-continue`: Node's server answers "100 Continue" right as it hands the
 * request to the service's handler, so `inFlight` resolves once the service has the request.
 */
function heldRequest(url: string) {
  const body = JSON.stringify({ query: '{ storageVersion }' });
  const { hostname, port } = new URL(url);
  const req = request({
    hostname,
    port,
    path: '/graphql',
    method: 'POST',
    headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), expect: '100-continue' },
  });
  const inFlight = new Promise<void>((resolve) => req.once('continue', resolve));
  const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
    req.once('error', reject);
    req.once('response', (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString('utf8')));
      res.once('end', () => resolve({ status: res.statusCode!, body: text }));
    });
  });
  req.flushHeaders();
  return { inFlight, answer, finish: () => req.end(body) };
}

// Each test starts the real service in a child process: seconds when idle, far more on a loaded machine.
describe('service lifecycle', { timeout: 120_000 }, () => {
  it('on SIGTERM stops accepting, finishes the request in flight, removes its lock file and exits 0', async () => {
    const dataDir = freshDataDir();
    const service = await start(dataDir, { LOG_LEVEL: 'info' });
    const held = heldRequest(service.url);
    await held.inFlight;
    const stopped = service.stop();
    await waitFor('the listening socket to close', async () => (await fetch(`${service.url}/healthz`).then(() => undefined, () => true)));
    held.finish();
    const answer = await held.answer;
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body).data.storageVersion).toMatch(/^\d+\.\d+/);
    expect(await stopped).toEqual({ code: 0, signal: null });
    const messages = service.proc.stdout().trim().split('\n').map((l) => (JSON.parse(l) as { msg: string }).msg);
    expect(messages.slice(-2)).toEqual(['request', 'stopped cleanly']);
    expect(messages).toContain('shutting down: finishing in-flight requests');
    expect(service.proc.stderr()).toBe('');
    expect(existsSync(join(dataDir, '.service.json'))).toBe(false);
  });

  it('refuses a second service on a DATA_DIR in use, and starts again after a SIGKILL left a stale lock file', async () => {
    const dataDir = freshDataDir();
    const lockFile = join(dataDir, '.service.json');
    const first = await start(dataDir);
    expect(runningServer(dataDir)?.pid).toBe(first.pid);
    const second = await runTsx('server/main.ts', [], { PORT: String(await freePort()), DATA_DIR: dataDir, LOG_LEVEL: 'silent' });
    expect(second.code).toBe(2);
    expect(second.stderr).toMatch(new RegExp(`^Cannot start: Another service \\(pid ${first.pid}, http://127\\.0\\.0\\.1:\\d+\\) already serves DATA_DIR ${dataDir}\\.\\n$`));
    expect(second.stderr).not.toMatch(STACK_FRAME);

    await first.kill();
    expect(JSON.parse(readFileSync(lockFile, 'utf8')).pid).toBe(first.pid);
    expect(runningServer(dataDir)).toBeUndefined();
    const next = await start(dataDir);
    expect(next.pid).not.toBe(first.pid);
    expect(await next.stop()).toEqual({ code: 0, signal: null });
    expect(existsSync(lockFile)).toBe(false);
  });
});
