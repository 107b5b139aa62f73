import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, spawnTsx, waitFor, type Spawned } from './process.js';

export interface ServiceProcess {
  proc: Spawned;
  url: string;
  /** The service's own process (tsx runs it in a child): the one to SIGKILL or measure. */
  pid: number;
  /** SIGKILLs the service process and waits until tsx noticed. */
  kill(): Promise<void>;
  /** Resident memory in bytes (Linux /proc): now, and the peak since start or the last resetPeakMemory. */
  memory(): { rss: number; peak: number };
  /** Lowers the recorded peak to the current resident memory. */
  resetPeakMemory(): void;
}

function procStatusBytes(pid: number, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

/** `npm start` on `dataDir` in a child process (on `port`, or a free one), resolved once /readyz answers 200. */
export async function startServiceProcess(
  dataDir: string,
  env: Record<string, string> = {},
  opts: { port?: number; timeoutMs?: number } = {},
): Promise<ServiceProcess> {
  const port = opts.port ?? (await freePort());
  const proc = spawnTsx('server/main.ts', [], { PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dataDir, LOG_LEVEL: 'warn', ...env });
  let exited = false;
  void proc.exited.then(() => (exited = true));
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    'the service to become ready',
    async () => {
      if (exited) throw new Error('exited');
      return (await fetch(`${url}/readyz`)).status === 200 ? true : undefined;
    },
    opts.timeoutMs ?? 45_000,
  ).catch((e: Error) => {
    proc.child.kill('SIGKILL');
    throw exited ? new Error(`the service exited before it was ready:\n${proc.stderr()}\n${proc.stdout()}`) : e;
  });
  const { pid } = JSON.parse(readFileSync(join(dataDir, '.service.json'), 'utf8')) as { pid: number };
  return {
    proc,
    url,
    pid,
    async kill() {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
      await proc.exited;
    },
    memory: () => ({ rss: procStatusBytes(pid, 'VmRSS'), peak: procStatusBytes(pid, 'VmHWM') }),
    resetPeakMemory: () => writeFileSync(`/proc/${pid}/clear_refs`, '5'),
  };
}
