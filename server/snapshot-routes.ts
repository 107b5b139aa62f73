import type { IncomingMessage, ServerResponse } from 'node:http';
import { checkSnapshotName, latestSnapshot, snapshotById, type StoredSnapshot } from '../loaders/kpi-snapshots.js';
import type { Route } from './app.js';
import type { Executor } from './storage/executor.js';
import { sendError, sendJson } from './http.js';

const PREFIX = '/v1/snapshots/';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** Latest: always revalidate (cheap with the ETag). By id: a stored snapshot never changes. */
const CACHE_LATEST = 'private, no-cache';
const CACHE_BY_ID = 'private, max-age=31536000, immutable';

/** Stored snapshots never change, so the id names the representation: the ETag of `latest` moves only when a newer snapshot is stored. */
function etagOf(s: StoredSnapshot): string {
  return `"${s.id}"`;
}

/** RFC 9110 If-None-Match: a list of tags or "*", compared weakly. */
function matches(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((t) => t.trim().replace(/^W\//, '') === etag);
}

/** Plain JSON for consumers without GraphQL: the KPI values under their GraphQL field names. */
export function snapshotJson(s: StoredSnapshot): Record<string, unknown> {
  return { id: s.id, name: s.name, createdAt: s.createdAt.toISOString(), definitionsVersion: s.definitionsVersion, ...JSON.parse(JSON.stringify(s.snapshot)) };
}

function answer(req: IncomingMessage, res: ServerResponse, s: StoredSnapshot, cacheControl: string): void {
  const etag = etagOf(s);
  const headers = { etag, 'cache-control': cacheControl };
  if (matches(req.headers['if-none-match'], etag)) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  sendJson(res, 200, snapshotJson(s), headers);
}

/** `GET /v1/snapshots/latest?name=...` and `GET /v1/snapshots/{id}` (scope read). */
export function snapshotRoutes(exec: Executor): Route {
  return async (req, res, meta) => {
    if (!meta.url.pathname.startsWith(PREFIX)) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendError(res, 405, 'METHOD_NOT_ALLOWED', `Use GET ${meta.url.pathname}`, meta.requestId);
      return true;
    }
    if (meta.authorize('read') === false) return true;
    const ctx = { requestId: meta.requestId };
    const rest = meta.url.pathname.slice(PREFIX.length);
    if (rest === 'latest') {
      const name = meta.url.searchParams.get('name') ?? '';
      try {
        checkSnapshotName(name);
      } catch (e) {
        sendError(res, 400, 'BAD_REQUEST', (e as Error).message, meta.requestId);
        return true;
      }
      const s = await latestSnapshot(exec, ctx, name);
      if (s) answer(req, res, s, CACHE_LATEST);
      else sendError(res, 404, 'NOT_FOUND', `No snapshot named ${JSON.stringify(name)} is stored yet`, meta.requestId);
      return true;
    }
    const s = UUID.test(rest) ? await snapshotById(exec, ctx, rest) : null;
    if (s) answer(req, res, s, CACHE_BY_ID);
    else sendError(res, 404, 'NOT_FOUND', `No snapshot with id ${JSON.stringify(rest)}`, meta.requestId);
    return true;
  };
}
