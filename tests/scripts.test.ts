import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { identify, parseApiKeys } from '../server/auth.js';
import { MIGRATIONS_DIR } from '../server/storage/migrate.js';
import { spawnTsx } from '../scripts/lib/process.js';
import { runTsx, STACK_FRAME } from './helpers/process.js';

describe('npm run key', () => {
  it('prints a new secret once and an API_KEYS entry that accepts exactly that secret', async () => {
    const r = await runTsx('scripts/key.ts', ['--name', 'ci', '--scopes', 'read+ingest']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const secret = /^ {2}(kpi_[A-Za-z0-9_-]{32})$/m.exec(r.stdout)?.[1];
    const entry = /^ {2}(ci:read\+ingest:sha256:[0-9a-f]{64})$/m.exec(r.stdout)?.[1];
    expect(secret).toBeDefined();
    expect(entry).toBe(`ci:read+ingest:sha256:${createHash('sha256').update(secret!).digest('hex')}`);
    expect(r.stdout.split(secret!)).toHaveLength(2);
    const keys = parseApiKeys(entry!);
    const key = identify(keys, `Bearer ${secret}`);
    expect(key).toMatchObject({ name: 'ci', scopes: new Set(['read', 'ingest']) });
    expect(identify(keys, `Bearer ${secret}x`)).toBe('invalid');
  });

  it('refuses an unknown scope and a name that would break the entry, with exit code 2', async () => {
    const scope = await runTsx('scripts/key.ts', ['--name', 'ci', '--scopes', 'read+write']);
    expect(scope.code).toBe(2);
    expect(scope.stderr).toBe('Unknown scope "write": use read, ingest, admin, joined with "+".\n');
    expect(scope.stdout).toBe('');
    const name = await runTsx('scripts/key.ts', ['--name', 'a:b', '--scopes', 'read']);
    expect(name.code).toBe(2);
    expect(name.stderr).toBe('--name "a:b" may hold only letters, digits, "_", "." and "-" (up to 64).\n');
  });
});

describe('npm run migrate', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'kpi-migrate-cli-'));
  const files = readdirSync(MIGRATIONS_DIR).filter((f) => f.endsWith('.sql')).sort();
  const env = { DATA_DIR: dataDir, LOG_LEVEL: 'silent' };
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('applies every migration to a fresh DATA_DIR with one line each, then nothing on the next run', async () => {
    const first = await runTsx('scripts/migrate.ts', [], env);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toBe(
      [
        `Migrating ${dataDir}, database kpi`,
        ...files.map((f) => `  applied ${f}`),
        `Schema up to date: ${files.length} applied now, 0 already applied.`,
        '',
      ].join('\n'),
    );
    const again = await runTsx('scripts/migrate.ts', [], env);
    expect(again.code).toBe(0);
    expect(again.stdout).toBe(`Migrating ${dataDir}, database kpi\nSchema up to date: 0 applied now, ${files.length} already applied.\n`);
  });

  it('refuses while a service holds the DATA_DIR', async () => {
    // This test process stands in for the service: the lock names a live pid.
    writeFileSync(join(dataDir, '.service.json'), JSON.stringify({ pid: process.pid, url: 'http://127.0.0.1:4000' }));
    const r = await runTsx('scripts/migrate.ts', [], env);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      `The service (pid ${process.pid}, http://127.0.0.1:4000) is running on DATA_DIR ${dataDir}: it applies migrations itself at start. Stop it and run this again, or just restart it.\n`,
    );
    expect(r.stderr).not.toMatch(STACK_FRAME);
  });
});

describe('npm run demo', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'kpi-demo-cli-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('refuses an end that is not a day before doing anything, with exit code 2', async () => {
    const r = await runTsx('scripts/demo.ts', ['--end', '2026-02-30'], { DATA_DIR: dataDir });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('--end must be a day as YYYY-MM-DD, got "2026-02-30"\n');
    expect(readdirSync(dataDir)).toEqual([]);
  });

  it('loads the store up to the start of the --end day\'s month, says so, and serves its last month full', async () => {
    const demo = spawnTsx('scripts/demo.ts', ['--scale', '0.01', '--end', '2026-12-04'], { DATA_DIR: dataDir, PORT: '0', LOG_LEVEL: 'silent' });
    // Ready when it prints how to stop it; it exits only on a failure before that.
    const ready = new Promise<void>((resolve, reject) => {
      demo.child.stdout!.on('data', () => {
        if (demo.stdout().includes('Stop with Ctrl-C.')) resolve();
      });
      void demo.exited.then(({ code }) => reject(new Error(`demo exited with ${code}: ${demo.stderr()}`)));
    });
    try {
      await ready;
      expect(demo.stdout()).toContain('Generating the demo store: 200 customers, about 1000 purchases from 2024-12-01 to 2026-11-30 (UTC; pin the end with --end YYYY-MM-DD)');
      const url = /Retention KPI service \(demo store\) at (http:\/\/\S+)/.exec(demo.stdout())![1]!;
      const ask = async (from: string, to: string): Promise<number> => {
        const res = await fetch(`${url}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ query: `{ repeatPurchaseRate(from: "${from}", to: "${to}") { customers } }` }),
        });
        return ((await res.json()) as { data: { repeatPurchaseRate: { customers: number } } }).data.repeatPurchaseRate.customers;
      };
      expect(await ask('2026-11-01T00:00:00Z', '2026-12-01T00:00:00Z')).toBeGreaterThan(0);
      expect(await ask('2026-12-01T00:00:00Z', '2027-01-01T00:00:00Z')).toBe(0);
    } finally {
      demo.child.kill('SIGTERM');
      await demo.exited;
    }
  });
});
