import { isAbsolute } from 'node:path';
import type { Route } from './app.js';
import { BodyBudget, BodyTooLargeError, readBody, sendError, sendJson, sendKpiError } from './http.js';
import type { EventWriter } from './ingest/writer.js';
import { BackupError, backupStore, type BackupProblem } from './storage/backup.js';
import type { Executor } from './storage/executor.js';

const PATH = '/v1/backups';
const BODY_LIMIT = 16 * 1024;
/** A full target is the caller's to fix (409); a store that kept changing is worth a retry (503). */
const STATUS: Record<BackupProblem, number> = {
  BAD_TARGET: 400,
  TARGET_NOT_EMPTY: 409,
  CHANGED_DURING_BACKUP: 503,
  NOT_A_BACKUP: 400,
  NEWER_SCHEMA: 400,
  COUNTS_DIFFER: 503,
  DAMAGED: 503,
};
/** Bodies of this route held at once: a few small JSON objects from admins. */
const budget = new BodyBudget(4 * BODY_LIMIT);

/**
 * `POST /v1/backups {"dir": "/abs/path"}` (admin scope): `npm run backup` asks the service that
 * serves a DATA_DIR through here, since the embedded engine belongs to one process. The copy
 * runs in the writer's queue, between two groups of writes, so it is a cut: every event
 * answered before it is in the backup, no group is in it in part. Ingestion waits meanwhile.
 * `dir` is a path on the service's machine. Embedded stores only: a server is backed up on the
 * server (README, "Backup and restore").
 */
export function backupRoute(exec: Executor, writer: EventWriter): Route {
  return async (req, res, meta) => {
    if (meta.url.pathname !== PATH) return false;
    if (req.method !== 'POST') {
      sendError(res, 405, 'METHOD_NOT_ALLOWED', `Use POST ${PATH} with {"dir": "/absolute/path"}`, meta.requestId);
      return true;
    }
    if (meta.authorize('admin') === false) return true;
    if (exec.storage.mode !== 'embedded') {
      sendError(res, 400, 'BAD_USER_INPUT', 'This service stores its data on a ClickHouse server: back it up there with BACKUP DATABASE … TO Disk/S3 (README, "Backup and restore").', meta.requestId);
      return true;
    }
    let dir: unknown;
    try {
      dir = (JSON.parse((await readBody(req, BODY_LIMIT, budget)).toString('utf8')) as { dir?: unknown }).dir;
    } catch (e) {
      if (!(e instanceof SyntaxError || e instanceof BodyTooLargeError)) throw e;
    }
    if (typeof dir !== 'string' || !isAbsolute(dir)) {
      sendError(res, 400, 'BAD_USER_INPUT', `The body must be JSON {"dir": "/absolute/path"} naming a new or empty directory on the service's machine.`, meta.requestId);
      return true;
    }
    try {
      const manifest = await writer.exclusive(() => backupStore(exec, dir, { requestId: meta.requestId }));
      meta.log.info({ requestId: meta.requestId, dir, tables: manifest.tables }, 'backup written');
      sendJson(res, 201, { dir, manifest });
    } catch (e) {
      if (e instanceof BackupError) sendError(res, STATUS[e.problem], e.problem, e.message, meta.requestId);
      else if (!sendKpiError(res, e, meta.requestId)) throw e;
    }
    return true;
  };
}
