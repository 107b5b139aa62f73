import { spawnTsx } from '../../scripts/lib/process.js';

/** Runs to completion; the timeout kills a hung child so the test fails with what it printed. */
export async function runTsx(script: string, args: string[] = [], env: Record<string, string> = {}, timeoutMs = 60_000) {
  const p = spawnTsx(script, args, env);
  const timer = setTimeout(() => p.child.kill('SIGKILL'), timeoutMs);
  const { code, signal } = await p.exited;
  clearTimeout(timer);
  return { code, signal, stdout: p.stdout(), stderr: p.stderr() };
}

/** What a stack trace looks like in Node's output. */
export const STACK_FRAME = /^\s+at .+[:(]/m;
