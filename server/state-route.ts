import type { Route } from './app.js';
import { sendError, sendJson, sendKpiError } from './http.js';
import type { EventWriter } from './ingest/writer.js';
import type { RepairMode } from './storage/state-check.js';

const PATH = '/v1/admin/verify-state';
const MODES = new Set<RepairMode>(['none', 'mismatched', 'all']);

/**
 * `POST /v1/admin/verify-state?repair=none|mismatched|all` (admin scope): `npm run verify-state`
 * asks the service that serves a DATA_DIR through here, since the embedded engine belongs to one
 * process. The check runs in the writer's queue, between two groups of writes, so it is exact
 * while ingestion runs.
 */
export function verifyStateRoute(writer: EventWriter): Route {
  return async (req, res, meta) => {
    if (meta.url.pathname !== PATH) return false;
    if (req.method !== 'POST') {
      sendError(res, 405, 'METHOD_NOT_ALLOWED', `Use POST ${PATH}?repair=none|mismatched|all`, meta.requestId);
      return true;
    }
    if (meta.authorize('admin') === false) return true;
    const repair = (meta.url.searchParams.get('repair') ?? 'none') as RepairMode;
    if (!MODES.has(repair)) {
      sendError(res, 400, 'BAD_USER_INPUT', `repair must be one of none, mismatched, all (got ${JSON.stringify(repair)})`, meta.requestId);
      return true;
    }
    try {
      const states = await writer.verifyStates(repair, 'verify-state', { requestId: meta.requestId });
      sendJson(res, 200, { states });
    } catch (e) {
      if (!sendKpiError(res, e, meta.requestId)) throw e;
    }
    return true;
  };
}
