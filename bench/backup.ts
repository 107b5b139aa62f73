/**
 * `npm run bench -- backup [--purchases N]`: `npm run backup` through a running service and
 * `npm run restore` into an empty DATA_DIR, on a bulk store (bench/bulk.ts) of N purchases
 * (default 10M; the target is under 60 s each). Both run as the CLIs run, in child processes;
 * their wall time includes tsx's start, and the CLIs' own figure (the copy itself) is printed
 * beside it.
 */
import { readdirSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadConfig } from '../server/config.js';
import { createLogger } from '../server/logger.js';
import { migrate } from '../server/storage/migrate.js';
import { createExecutor } from '../server/service.js';
import { openStorage } from '../server/storage/client.js';
import { spawnTsx } from '../scripts/lib/process.js';
import { startServiceProcess } from '../scripts/lib/service-process.js';
import { ensureBulkStore } from './bulk.js';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));

/** Bytes of the files under `path` (or of the file itself). */
export function bytesUnder(path: string): number {
  const s = statSync(path);
  if (!s.isDirectory()) return s.size;
  return readdirSync(path).reduce((sum, name) => sum + bytesUnder(join(path, name)), 0);
}

async function timedCli(script: string, args: string[], env: Record<string, string>): Promise<{ s: number; out: string }> {
  const started = performance.now();
  const p = spawnTsx(script, args, env);
  const { code } = await p.exited;
  if (code !== 0) throw new Error(`${script} exited ${code}: ${p.stderr()}`);
  return { s: (performance.now() - started) / 1000, out: p.stdout().trim().split('\n').at(-1) ?? '' };
}

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { purchases: { type: 'string', default: '10000000' } } });
  const purchases = Number(values.purchases);
  if (!Number.isInteger(purchases) || purchases < 1) throw new Error(`--purchases must be a positive integer (got ${values.purchases})`);
  const dataDir = join(ROOT, '.bench', `backup-${purchases}`);
  const backupDir = join(ROOT, '.bench', `backup-${purchases}-copy`);
  const restoredDir = join(ROOT, '.bench', `backup-${purchases}-restored`);
  const env = { DATA_DIR: dataDir, LOG_LEVEL: 'silent' };
  const config = loadConfig(env);
  const storage = await openStorage(config);
  try {
    const exec = createExecutor(storage, config, createLogger('silent'));
    await migrate(exec);
    await ensureBulkStore(exec, purchases);
  } finally {
    await storage.close();
  }
  rmSync(backupDir, { recursive: true, force: true });
  rmSync(restoredDir, { recursive: true, force: true });
  console.log(`store: ${purchases.toLocaleString('en')} purchases, ${(bytesUnder(dataDir) / 2 ** 20).toFixed(1)} MiB in ${dataDir}`);
  const service = await startServiceProcess(dataDir, { LOG_LEVEL: 'silent' });
  try {
    const backup = await timedCli('scripts/backup.ts', [backupDir], env);
    console.log(`npm run backup through the service: ${backup.s.toFixed(1)} s wall (${(bytesUnder(backupDir) / 2 ** 20).toFixed(1)} MiB); ${backup.out.replace(/: schema level.*/, '')}`);
  } finally {
    await service.stop();
  }
  const restore = await timedCli('scripts/restore.ts', [backupDir], { ...env, DATA_DIR: restoredDir });
  console.log(`npm run restore into an empty DATA_DIR: ${restore.s.toFixed(1)} s wall; ${restore.out.replace(/; rows equal.*/, '')}`);
  rmSync(backupDir, { recursive: true, force: true });
  rmSync(restoredDir, { recursive: true, force: true });
}
