import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Route } from './app.js';
import type { Config } from './config.js';
import { sendError, sendJson, sendKpiError } from './http.js';
import { NdjsonSplitter, type NdjsonLine } from './ingest/ndjson.js';
import { CUSTOMER_ERASED } from './ingest/erasures.js';
import { Rejections, type RejectedLine } from './ingest/rejections.js';
import { validateLine, type StoredEvent } from './ingest/validate.js';
import type { EventWriter } from './ingest/writer.js';

export interface IngestAnswer {
  accepted: number;
  duplicates: number;
  rejectedCount: number;
  /** The first MAX_LISTED_REJECTED of them. */
  rejected: RejectedLine[];
}

const NDJSON_TYPES = new Set(['application/x-ndjson', 'application/ndjson', 'application/jsonl']);
const MAX_LINE_BYTES = 1024 * 1024;
/** Events stored per insert while a body streams in: big enough for ClickHouse, small enough for memory. */
export const FLUSH_EVENTS = 20_000;

/** Counts the body's bytes and stops it at the configured limit. */
async function* limited(req: IncomingMessage, limit: number, state: { tooLarge: boolean }): AsyncGenerator<Buffer> {
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      state.tooLarge = true;
      return;
    }
    yield chunk;
  }
}

/** `POST /v1/events`: NDJSON in, stored exactly once, every line accounted for (spec section 10). */
export function ingestRoute(config: Config, writer: EventWriter): Route {
  const ingest = ingestHandler(config, writer);
  return async (req, res, meta) => {
    if (meta.url.pathname !== '/v1/events') return false;
    try {
      return await ingest(req, res, meta);
    } catch (e) {
      // Nothing of this request was acknowledged; what got stored is found again on a re-send.
      if (!sendKpiError(res, e, meta.requestId)) throw e;
      req.resume();
      return true;
    }
  };
}

function ingestHandler(config: Config, writer: EventWriter): Route {
  return async (req: IncomingMessage, res: ServerResponse, meta) => {
    if (req.method !== 'POST') {
      sendError(res, 405, 'METHOD_NOT_ALLOWED', 'Use POST /v1/events with an NDJSON body', meta.requestId);
      return true;
    }
    if (meta.authorize('ingest') === false) return true;
    // A read replica or a standby answers before reading a body it could not store.
    writer.assertMayWrite(meta.requestId);
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (!NDJSON_TYPES.has(type)) {
      sendError(res, 415, 'UNSUPPORTED_MEDIA_TYPE', `Send Content-Type: application/x-ndjson (got ${JSON.stringify(type || 'none')})`, meta.requestId);
      req.resume();
      return true;
    }
    // A compressed body would otherwise be read line by line as text and refused as invalid UTF-8.
    const encoding = String(req.headers['content-encoding'] ?? '').trim().toLowerCase();
    if (encoding !== '' && encoding !== 'identity') {
      sendError(res, 415, 'UNSUPPORTED_MEDIA_TYPE', `Content-Encoding ${JSON.stringify(encoding)} is not supported: send the NDJSON body uncompressed`, meta.requestId);
      req.resume();
      return true;
    }
    const limit = config.ingestMaxBodyBytes;
    if (Number(req.headers['content-length'] ?? 0) > limit) {
      sendError(res, 413, 'PAYLOAD_TOO_LARGE', `The body is larger than the limit of ${limit} bytes (INGEST_MAX_BODY_BYTES); split it into several requests.`, meta.requestId);
      req.resume();
      return true;
    }
    const atomic = meta.url.searchParams.get('atomic') === 'true';
    const ctx = { requestId: meta.requestId };
    let accepted = 0;
    let duplicates = 0;
    const rejections = new Rejections();
    let pending: StoredEvent[] = [];
    /** The line of each pending event. */
    let pendingLines: number[] = [];
    const store = async (events: StoredEvent[], at: number[]) => {
      const result = await writer.write(events, ctx);
      accepted += result.accepted;
      duplicates += result.duplicates.size;
      for (const i of result.erased) rejections.add(at[i]!, events[i]!.row.event_id, [CUSTOMER_ERASED]);
      return result;
    };
    const flush = async () => {
      await store(pending, pendingLines);
      pending = [];
      pendingLines = [];
    };
    const state = { tooLarge: false };
    // The splitter's synchronous API: one await per chunk instead of one per line.
    const splitter = new NdjsonSplitter(MAX_LINE_BYTES);
    const lines: NdjsonLine[] = [];
    const take = async () => {
      for (const item of lines) {
        if ('error' in item) {
          rejections.add(item.line, null, [item.error]);
          continue;
        }
        const result = validateLine(item.text);
        const errors = result.ok ? (writer.rejectsErased(result.event) ? [CUSTOMER_ERASED] : undefined) : result.errors;
        if (errors) {
          rejections.add(item.line, result.ok ? result.event.row.event_id : result.eventId, errors);
          // An atomic request with a rejected line stores nothing: stop holding its events.
          if (atomic) {
            pending = [];
            pendingLines = [];
          }
        } else if (result.ok && (!atomic || rejections.count === 0)) {
          pending.push(result.event);
          pendingLines.push(item.line);
          if (!atomic && pending.length >= FLUSH_EVENTS) await flush();
        }
      }
      lines.length = 0;
    };
    for await (const chunk of limited(req, limit, state)) {
      splitter.push(chunk, lines);
      await take();
    }
    if (!state.tooLarge) {
      splitter.end(lines);
      await take();
    }
    writer.report('http', { accepted, duplicates, rejected: rejections.count });
    if (state.tooLarge) {
      // Lines stored before the limit stay stored; a retry is safe because eventIds dedupe.
      sendJson(res, 413, {
        error: { code: 'PAYLOAD_TOO_LARGE', message: `The body is larger than the limit of ${limit} bytes (INGEST_MAX_BODY_BYTES); split it into several requests.` },
        accepted,
        duplicates,
      });
      req.resume();
      return true;
    }
    if (atomic && rejections.count > 0) {
      const rejectedCount = rejections.count;
      sendJson(res, 422, {
        accepted: 0,
        duplicates: 0,
        rejectedCount,
        rejected: rejections.listed,
        error: { code: 'REJECTED_LINES', message: `${rejectedCount} line(s) rejected; atomic request stored nothing` },
      });
      return true;
    }
    for (let i = 0; i < pending.length; i += FLUSH_EVENTS) {
      const result = await store(pending.slice(i, i + FLUSH_EVENTS), pendingLines.slice(i, i + FLUSH_EVENTS));
      writer.report('http', { accepted: result.accepted, duplicates: result.duplicates.size, rejected: result.erased.size });
    }
    const answer: IngestAnswer = { accepted, duplicates, rejectedCount: rejections.count, rejected: rejections.listed };
    sendJson(res, 200, answer);
    return true;
  };
}
