import { existsSync, linkSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, type Stats } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import type { Config } from './config.js';
import { RESTORE_MARKER } from './storage/backup.js';

/**
 * What can be checked before storage is opened: the data directory, its lock, the address.
 * Light on purpose (no schema, no engine): main.ts runs it before loading the rest.
 */

/** Why the service cannot start, in one sentence for the operator (main.ts prints it and exits 2). */
export class StartupError extends Error {
  override name = 'StartupError';
}

const LOCK_FILE = '.service.json';

interface LockInfo {
  pid: number;
  /** Absent while the holder is still starting. */
  url?: string;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: the process exists, it just belongs to someone else.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readLock(file: string): LockInfo | 'unreadable' | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    return 'unreadable';
  }
  try {
    const info = JSON.parse(text) as LockInfo;
    return Number.isSafeInteger(info.pid) && info.pid > 0 ? info : 'unreadable';
  } catch {
    return 'unreadable';
  }
}

/** Who serves a data directory right now, so CLIs go through it instead of opening it twice. */
export function runningServer(dataDir: string): LockInfo | undefined {
  const info = readLock(join(resolve(dataDir), LOCK_FILE));
  return typeof info === 'object' && alive(info.pid) ? info : undefined;
}

function describeHolder(info: LockInfo): string {
  return `pid ${info.pid}, ${info.url ?? 'still starting'}`;
}

/**
 * Several takers in one process (main.ts before the engine loads, then the service; the tests'
 * services) share the process's lock, and all learn whether it was taken over from a dead one.
 */
const heldLocks = new Map<string, { count: number; unclean: boolean }>();

/**
 * Takes DATA_DIR for this process before anything opens it. The lock file appears whole or not
 * at all (written aside, then hard-linked: link fails when the name exists), so of two
 * processes starting together exactly one wins. A lock naming a dead process is moved aside
 * first; whoever moved away a live lock instead (a racer that just took over) puts it back.
 */
export interface DataDirLock {
  /** A lock of a process that is gone was taken over: that process did not stop cleanly. */
  unclean: boolean;
  update(url: string): void;
  /** `keep` leaves the file behind, so the next start treats this stop as unclean. */
  release(options?: { keep?: boolean }): void;
}

export function lockDataDir(dataDir: string): DataDirLock {
  const dir = resolve(dataDir);
  const file = join(dir, LOCK_FILE);
  let unclean = false;
  const own = (): DataDirLock => ({
    unclean: heldLocks.get(dir)?.unclean ?? unclean,
    update(url: string) {
      const tmp = `${file}.${process.pid}.tmp`;
      writeFileSync(tmp, JSON.stringify({ pid: process.pid, url }));
      renameSync(tmp, file);
    },
    release(options = {}) {
      const held = heldLocks.get(dir);
      if (held && held.count > 1) return void held.count--;
      heldLocks.delete(dir);
      if (!options.keep) rmSync(file, { force: true });
    },
  });
  const held = heldLocks.get(dir);
  if (held) {
    held.count++;
    return own();
  }
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, JSON.stringify({ pid: process.pid }));
  } catch (e) {
    throw dataDirError(dir, e, 'written');
  }
  try {
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        linkSync(tmp, file);
        heldLocks.set(dir, { count: 1, unclean });
        return own();
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw dataDirError(dir, e, 'written');
      }
      const holder = readLock(file);
      if (holder === undefined) continue;
      if (holder !== 'unreadable' && holder.pid !== process.pid && alive(holder.pid)) {
        throw new StartupError(`Another service (${describeHolder(holder)}) already serves DATA_DIR ${dir}.`);
      }
      const aside = `${file}.${process.pid}.stale`;
      try {
        renameSync(file, aside);
      } catch {
        continue;
      }
      const moved = readLock(aside);
      if (typeof moved === 'object' && moved.pid !== process.pid && alive(moved.pid)) {
        try {
          linkSync(aside, file);
        } catch {
          // A third process took the name meanwhile: its lock stands, ours is retried below.
        }
      } else {
        unclean = true;
      }
      rmSync(aside, { force: true });
    }
    throw new StartupError(`Could not take DATA_DIR ${dir}: other processes keep taking and releasing it.`);
  } finally {
    rmSync(tmp, { force: true });
  }
}

/** A data directory problem as one sentence naming the path and what to do. */
function dataDirError(dir: string, e: unknown, action: 'created' | 'written'): StartupError {
  const err = e as NodeJS.ErrnoException;
  switch (err.code) {
    case 'EROFS':
      return new StartupError(`DATA_DIR ${dir} is on a read-only file system: choose a writable directory.`);
    case 'EACCES':
    case 'EPERM':
      return new StartupError(`DATA_DIR ${dir} cannot be ${action}: permission denied (${err.code}). Fix its permissions or choose another directory.`);
    case 'ENOSPC':
      return new StartupError(`DATA_DIR ${dir} cannot be ${action}: no space left on the device.`);
    default:
      return new StartupError(`DATA_DIR ${dir} cannot be ${action} (${err.code ?? err.message}).`);
  }
}

/** Missing also when a parent is a file (ENOTDIR): the walk up finds that file. */
function statOrMissing(p: string): Stats | undefined {
  try {
    return statSync(p);
  } catch (e) {
    if (['ENOENT', 'ENOTDIR'].includes((e as NodeJS.ErrnoException).code ?? '')) return undefined;
    throw dataDirError(p, e, 'created');
  }
}

/**
 * DATA_DIR exists (created when missing) and is a directory; writability shows when the lock
 * is taken. Created one level at a time: Node's recursive mkdir loops forever where the file
 * system answers ENOENT for a directory that exists (/proc).
 */
export function prepareDataDir(dataDir: string): void {
  const dir = resolve(dataDir);
  const missing: string[] = [];
  let p = dir;
  for (;;) {
    const stat = statOrMissing(p);
    if (stat?.isDirectory()) break;
    if (stat !== undefined) {
      throw new StartupError(p === dir ? `DATA_DIR ${dir} is a file, not a directory.` : `DATA_DIR ${dir} is inside a file: ${p} is not a directory.`);
    }
    missing.unshift(p);
    p = dirname(p);
  }
  for (const m of missing) {
    try {
      mkdirSync(m);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw dataDirError(dir, e, 'created');
    }
  }
}

/** A listen failure as one sentence naming HOST and PORT. */
export function listenError(host: string, port: number, e: unknown): StartupError {
  const err = e as NodeJS.ErrnoException;
  switch (err.code) {
    case 'EADDRINUSE':
      return new StartupError(`PORT ${port} on ${host} is already in use: stop what listens there or set PORT to a free port.`);
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NONAME':
      return new StartupError(`HOST=${host} does not resolve to an address: set HOST to an address of this machine (127.0.0.1 by default).`);
    case 'EADDRNOTAVAIL':
      return new StartupError(`HOST=${host} is not an address of this machine: set HOST to one of its addresses (127.0.0.1 by default).`);
    case 'EACCES':
      return new StartupError(`PORT ${port} on ${host} needs privileges this process lacks: use a port above 1023.`);
    default:
      return new StartupError(`Cannot listen on ${host}:${port} (${err.code ?? err.message}).`);
  }
}

/** Binds HOST:PORT once and lets go, so a busy port or a wrong HOST is reported before any storage work. */
export function checkListen(host: string, port: number): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const probe = createServer();
    probe.once('error', (e) => reject(listenError(host, port, e)));
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolvePromise()));
  });
}

/**
 * What can be checked without opening storage, in the order an operator fixes it: the
 * directory, the address, then the directory's lock. The caller releases the lock it gets.
 */
export async function preflight(config: Config): Promise<DataDirLock | undefined> {
  if (!config.server) {
    prepareDataDir(config.dataDir);
    if (existsSync(join(config.dataDir, RESTORE_MARKER))) {
      throw new StartupError(
        `DATA_DIR ${resolve(config.dataDir)} holds a restore that did not finish (${RESTORE_MARKER}): some tables may be missing or short. Empty it and run the restore again.`,
      );
    }
  }
  await checkListen(config.host, config.port);
  return config.server ? undefined : lockDataDir(config.dataDir);
}
