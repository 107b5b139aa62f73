import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, spawnTsx, waitFor, type Spawned } from './process.js';

export interface ServiceProcess {
  proc: Spawned;
  url: string;
  /** The service's own process (tsx runs it in a child): the one to signal or measure. */
  pid: number;
  /** SIGKILLs the service process and waits until tsx noticed. */
  kill(): Promise<void>;
  /**
   * SIGTERMs the service process itself and waits for the exit. A SIGTERM to the tsx wrapper
   * would be relayed, and tsx SIGKILLs a child that does not confirm it within 30 ms (exit 143
   * on a loaded machine).
   */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
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
  // Once tsx has exited its child is gone too, and the pid may already name another process.
  const signal = async (name: NodeJS.Signals) => {
    if (!exited) {
      try {
        process.kill(pid, name);
      } catch {
        // already gone
      }
    }
    return proc.exited;
  };
  return {
    proc,
    url,
    pid,
    kill: async () => void (await signal('SIGKILL')),
    stop: () => signal('SIGTERM'),
  };
}
