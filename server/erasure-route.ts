import type { Route } from './app.js';
import { BodyBudget, readBody, sendError, sendJson, sendKpiError } from './http.js';
import type { EventWriter } from './ingest/writer.js';

const PATH = '/v1/erasures';
/** A thousand ids of 128 code points, four bytes each, with room for the JSON around them. */
const BODY_LIMIT = 1024 * 1024;

/**
 * `POST /v1/erasures` with `{"customerIds": [...]}` (admin scope; spec section 16): the same
 * erasure as the eraseCustomers mutation, answered with the Erasure once it is durable. Erasures
 * run one at a time in the writer's queue, so one body budget of the limit's size serves them all.
 */
export function erasureRoute(writer: EventWriter): Route {
  const budget = new BodyBudget(BODY_LIMIT);
  return async (req, res, meta) => {
    if (meta.url.pathname !== PATH) return false;
    if (req.method !== 'POST') {
      sendError(res, 405, 'METHOD_NOT_ALLOWED', `Use POST ${PATH} with {"customerIds": [...]}`, meta.requestId);
      return true;
    }
    if (meta.authorize('admin') === false) return true;
    let body: unknown;
    try {
      body = JSON.parse((await readBody(req, BODY_LIMIT, budget)).toString('utf8'));
    } catch (e) {
      if (!(e instanceof SyntaxError)) throw e;
    }
    const ids = (body as { customerIds?: unknown } | undefined)?.customerIds;
    if (!Array.isArray(ids)) {
      sendError(res, 400, 'BAD_USER_INPUT', 'Send a JSON object {"customerIds": ["…", …]}', meta.requestId);
      return true;
    }
    try {
      // Ids that are not strings are refused by the erasure's own check, naming the position.
      const erasure = await writer.erase(ids as string[], { requestId: meta.requestId });
      sendJson(res, 200, { ...erasure, erasedAt: erasure.erasedAt.toISOString() });
    } catch (e) {
      if (!sendKpiError(res, e, meta.requestId)) throw e;
    }
    return true;
  };
}
