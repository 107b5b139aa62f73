import { readFileSync, writeFileSync } from 'node:fs';

function procStatusBytes(pid: number, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

/** Resident memory of a process in bytes (Linux /proc): now, and the peak since start or the last resetPeakMemory. */
export function memoryOf(pid: number): { rss: number; peak: number } {
  return { rss: procStatusBytes(pid, 'VmRSS'), peak: procStatusBytes(pid, 'VmHWM') };
}

/** Lowers the recorded peak of a process to its current resident memory. */
export function resetPeakMemory(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
}
