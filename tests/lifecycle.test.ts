import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runningServer } from '../server/preflight.js';
import { freePort, runTsx, spawnTsx, STACK_FRAME, waitFor, type Spawned } from './helpers/process.js';

const dataDir = mkdtempSync(join(tmpdir(), 'kpi-lifecycle-'));
const lockFile = join(dataDir, '.service.json');
const started: Spawned[] = [];

afterAll(() => {
  for (const s of started) if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});

/** `npm start` on the shared DATA_DIR, resolved once /readyz answers 200. */
async function startMain(): Promise<{ proc: Spawned; url: string; pid: number }> {
  const port = await freePort();
  const proc = spawnTsx('server/main.ts', [], { PORT: String(port), DATA_DIR: dataDir, LOG_LEVEL: 'info' });
  started.push(proc);
  let exited = false;
  void proc.exited.then(() => (exited = true));
  const url = `http://127.0.0.1:${port}`;
  await waitFor('the service to become ready', async () => {
    if (exited) throw new Error(`the service exited early:\n${proc.stderr()}${proc.stdout()}`);
    return (await fetch(`${url}/readyz`)).status === 200 ? true : undefined;
  }, 45_000).catch((e: Error) => {
    throw exited ? new Error(`the service exited before it was ready:\n${proc.stderr()}\n${proc.stdout()}`) : e;
  });
  // tsx runs the service in a child process; the lock file names that one.
  const lock = JSON.parse(readFileSync(lockFile, 'utf8')) as { pid: number; url: string };
  expect(lock.url).toBe(url);
  return { proc, url, pid: lock.pid };
}

/** A GraphQL POST whose body is held back, so the request is in flight for as long as the test wants. */
function heldRequest(url: string) {
  const body = JSON.stringify({ query: '{ storageVersion }' });
  const { hostname, port } = new URL(url);
  const req = request({ hostname, port, path: '/graphql', method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } });
  const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
    req.once('error', reject);
    req.once('response', (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString('utf8')));
      res.once('end', () => resolve({ status: res.statusCode!, body: text }));
    });
  });
  req.write(body.slice(0, 5));
  return { answer, finish: () => req.end(body.slice(5)) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// Each test starts the real service in a child process: seconds when idle, far more on a loaded machine.
describe('service lifecycle', { timeout: 120_000 }, () => {
  it('on SIGTERM stops accepting, finishes the request in flight, removes its lock file and exits 0', async () => {
    const { proc, url } = await startMain();
    const held = heldRequest(url);
    await sleep(500);
    proc.child.kill('SIGTERM');
    await waitFor('the listening socket to close', async () => (await fetch(`${url}/healthz`).then(() => undefined, () => true)));
    held.finish();
    const answer = await held.answer;
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body).data.storageVersion).toMatch(/^\d+\.\d+/);
    expect(await proc.exited).toEqual({ code: 0, signal: null });
    const messages = proc.stdout().trim().split('\n').map((l) => (JSON.parse(l) as { msg: string }).msg);
    expect(messages.slice(-2)).toEqual(['request', 'stopped cleanly']);
    expect(messages).toContain('shutting down: finishing in-flight requests');
    expect(proc.stderr()).toBe('');
    expect(existsSync(lockFile)).toBe(false);
  });

  // The two tests below share one start: each start of the service costs seconds.
  let killed: number | undefined;

  it('starts again on the same DATA_DIR, and a second service on it is refused while it runs', async () => {
    const { proc, pid } = await startMain();
    expect(runningServer(dataDir)?.pid).toBe(pid);
    const second = await runTsx('server/main.ts', [], { PORT: String(await freePort()), DATA_DIR: dataDir, LOG_LEVEL: 'silent' });
    expect(second.code).toBe(2);
    expect(second.stderr).toMatch(new RegExp(`^Cannot start: Another service \\(pid ${pid}, http://127\\.0\\.0\\.1:\\d+\\) already serves DATA_DIR ${dataDir}\\.\\n$`));
    expect(second.stderr).not.toMatch(STACK_FRAME);
    process.kill(pid, 'SIGKILL');
    await proc.exited;
    killed = pid;
  });

  it('starts after a SIGKILL left a stale lock file behind', async () => {
    expect(killed).toBeDefined();
    expect(JSON.parse(readFileSync(lockFile, 'utf8')).pid).toBe(killed);
    expect(runningServer(dataDir)).toBeUndefined();
    const next = await startMain();
    expect(next.pid).not.toBe(killed);
    next.proc.child.kill('SIGTERM');
    expect(await next.proc.exited).toEqual({ code: 0, signal: null });
    expect(existsSync(lockFile)).toBe(false);
  });
});
