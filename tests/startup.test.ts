import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../server/config.js';
import { preflight, StartupError } from '../server/preflight.js';
import { freePort, spawnTsx, waitFor, type Spawned } from '../scripts/lib/process.js';
import { runTsx, STACK_FRAME } from './helpers/process.js';

const root = mkdtempSync(join(tmpdir(), 'kpi-startup-'));
const KEYS = 'ops:admin:startup-secret-0123456789';
let busy: Server;
let busyPort: number;

beforeAll(async () => {
  busy = createServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  busyPort = (busy.address() as { port: number }).port;
});
afterAll(() => {
  busy.close();
  rmSync(root, { recursive: true, force: true });
});

/** `npm start` that is expected to fail: exit 2, exactly one line on stderr, no stack anywhere. */
async function failedStart(env: Record<string, string>, script = 'server/main.ts', args: string[] = []) {
  const r = await runTsx(script, args, { PORT: String(await freePort()), HOST: '127.0.0.1', LOG_LEVEL: 'trace', ...env });
  expect(r.code).toBe(2);
  expect(r.stderr.split('\n')).toHaveLength(2);
  expect(r.stderr + r.stdout).not.toMatch(STACK_FRAME);
  return r;
}

const fresh = (name: string) => join(root, name);

/** A StartupError's message, from the checks main.ts and the demo run before anything else. */
async function preflightError(env: Record<string, string>): Promise<string> {
  const config = loadConfig({ HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'silent', ...env });
  try {
    const lock = await preflight(config);
    lock?.release();
  } catch (e) {
    expect(e).toBeInstanceOf(StartupError);
    return (e as Error).message;
  }
  throw new Error('preflight passed');
}

describe('what is checked before storage is opened', () => {
  it('a port in use, a HOST that does not resolve', async () => {
    expect(await preflightError({ PORT: String(busyPort), DATA_DIR: fresh('p-busy') })).toBe(
      `PORT ${busyPort} on 127.0.0.1 is already in use: stop what listens there or set PORT to a free port.`,
    );
    expect(await preflightError({ HOST: 'no-such-host.invalid', API_KEYS: KEYS, DATA_DIR: fresh('p-host') })).toBe(
      'HOST=no-such-host.invalid does not resolve to an address: set HOST to an address of this machine (127.0.0.1 by default).',
    );
  });

  it('a DATA_DIR that is a file, inside a file, not writable or not creatable', async () => {
    const file = fresh('p-file');
    writeFileSync(file, 'not a directory');
    expect(await preflightError({ DATA_DIR: file })).toBe(`DATA_DIR ${file} is a file, not a directory.`);
    const inside = join(file, 'data', 'kpi');
    expect(await preflightError({ DATA_DIR: inside })).toBe(`DATA_DIR ${inside} is inside a file: ${file} is not a directory.`);
    // root ignores file modes, so as root a directory of sysfs stands in for a read-only one.
    const asRoot = process.getuid?.() === 0;
    const readOnly = asRoot ? '/sys/kernel' : fresh('p-read-only');
    if (!asRoot) {
      mkdirSync(readOnly);
      chmodSync(readOnly, 0o500);
    }
    expect(await preflightError({ DATA_DIR: readOnly })).toBe(
      `DATA_DIR ${readOnly} cannot be written: permission denied (EACCES). Fix its permissions or choose another directory.`,
    );
    const unCreatable = asRoot ? '/sys/kpi-data' : join(readOnly, 'data');
    expect(await preflightError({ DATA_DIR: unCreatable })).toMatch(
      new RegExp(`^DATA_DIR ${unCreatable} cannot be created: permission denied \\(E(PERM|ACCES)\\)\\.`),
    );
    // Node's own recursive mkdir never returns here (ENOENT for a parent that exists).
    expect(await preflightError({ DATA_DIR: '/proc/kpi-data' })).toBe('DATA_DIR /proc/kpi-data cannot be created (ENOENT).');
  });
});

// Each case is a real `npm start` / `npm run demo`, failing within its first second of work.
describe('startup failures: one line, exit code 2, before any storage work', { timeout: 120_000 }, () => {
  it('a port in use', async () => {
    const dataDir = fresh('busy-port');
    const r = await failedStart({ PORT: String(busyPort), DATA_DIR: dataDir });
    expect(r.stderr).toBe(`Cannot start: PORT ${busyPort} on 127.0.0.1 is already in use: stop what listens there or set PORT to a free port.\n`);
    // Neither the engine nor the lock touched the directory.
    expect(readdirSync(dataDir)).toEqual([]);
  });

  it('a DATA_DIR that is a file', async () => {
    const file = fresh('a-file');
    writeFileSync(file, 'not a directory');
    const r = await failedStart({ DATA_DIR: file });
    expect(r.stderr).toBe(`Cannot start: DATA_DIR ${file} is a file, not a directory.\n`);
  });

  it('never prints the password of CLICKHOUSE_URL, in any line', async () => {
    const port = await freePort();
    const r = await failedStart({ CLICKHOUSE_URL: `http://kpi:s3cret-pass-4711@127.0.0.1:${port}`, DATA_DIR: fresh('server-mode') });
    expect(r.stderr).toBe(`Cannot start: Cannot reach ClickHouse at http://127.0.0.1:${port} (ECONNREFUSED): is the server running and CLICKHOUSE_URL right?\n`);
    expect(r.stdout).toContain('"level":60');
    expect(r.stdout + r.stderr).not.toContain('s3cret-pass-4711');
  });

  it('npm run demo on a busy port, before generating or loading anything', async () => {
    const dataDir = fresh('demo');
    const r = await failedStart({ PORT: String(busyPort), DATA_DIR: dataDir }, 'scripts/demo.ts', ['--scale', '0.01']);
    expect(r.stderr).toBe(`Cannot start the demo: PORT ${busyPort} on 127.0.0.1 is already in use: stop what listens there or set PORT to a free port.\n`);
    expect(r.stdout).toBe('');
    expect(readdirSync(dataDir)).toEqual([]);
  });
});

describe('two services racing for one DATA_DIR', { timeout: 180_000 }, () => {
  const started: Spawned[] = [];
  afterAll(() => {
    for (const s of started) if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL');
  });

  it('exactly one starts; the other exits 2 naming it', async () => {
    const dataDir = fresh('race');
    const ports = [await freePort(), await freePort()];
    const procs = ports.map((port) => spawnTsx('server/main.ts', [], { PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dataDir, LOG_LEVEL: 'warn' }));
    started.push(...procs);
    const exits: ({ code: number | null } | undefined)[] = [undefined, undefined];
    procs.forEach((p, i) => void p.exited.then((e) => (exits[i] = e)));
    const ready = async (i: number) => exits[i] === undefined && (await fetch(`http://127.0.0.1:${ports[i]}/readyz`)).status === 200;
    // Settled once one has exited and the other answers, or both answer (the failure before the lock was atomic).
    const outcome = await waitFor(
      'one service to start and the other to exit',
      async () => {
        const up = [await ready(0).catch(() => false), await ready(1).catch(() => false)];
        if (up[0] && up[1]) return 'both started';
        const winner = up.indexOf(true);
        return winner >= 0 && exits[1 - winner] !== undefined ? winner : undefined;
      },
      150_000,
    );
    expect(outcome).not.toBe('both started');
    const winner = outcome as number;
    const loser = procs[1 - winner]!;
    expect(exits[1 - winner]).toEqual({ code: 2, signal: null });
    const lock = JSON.parse(readFileSync(join(dataDir, '.service.json'), 'utf8')) as { pid: number; url: string };
    expect(lock.url).toBe(`http://127.0.0.1:${ports[winner]}`);
    expect(loser.stderr()).toMatch(/^Cannot start: Another service \(pid \d+, (http:\/\/127\.0\.0\.1:\d+|still starting)\) already serves DATA_DIR .*\.\n$/);
    expect(loser.stderr()).toContain(`pid ${lock.pid}`);
    // To the service itself, not its tsx wrapper: tsx SIGKILLs a child slow to confirm a relayed signal.
    process.kill(lock.pid, 'SIGTERM');
    expect(await procs[winner]!.exited).toEqual({ code: 0, signal: null });
    expect(existsSync(join(dataDir, '.service.json'))).toBe(false);
  });
});
