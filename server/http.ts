import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { KpiError, type ErrorCode } from './storage/errors.js';

/** How REST answers each code of the transport-neutral errors (server/storage/errors.ts). */
// INGEST_DISABLED is final for this instance (a client should not retry it here); a lease moves.
const STATUS: Record<ErrorCode, number> = { BAD_USER_INPUT: 400, TIMEOUT: 503, STORAGE_ERROR: 503, ERASURE_KEY_MISSING: 503, INGEST_DISABLED: 403, NOT_LEASE_HOLDER: 503 };

/** Answers a KpiError with its status and code; false for any other error, left to the caller. */
export function sendKpiError(res: ServerResponse, e: unknown, requestId: string): boolean {
  if (!(e instanceof KpiError) || res.headersSent) return false;
  sendJson(res, STATUS[e.code], { error: { code: e.code, message: e.message, ...(e.field ? { field: e.field } : {}), requestId } });
  return true;
}

/** The JSON error body of every non-2xx answer outside GraphQL (spec section 10). */
export function sendError(res: ServerResponse, status: number, code: string, message: string, requestId?: string, headers: Record<string, string> = {}): void {
  sendJson(res, status, { error: { code, message, ...(requestId ? { requestId } : {}) } }, headers);
}

/** What a request Node could not parse is answered, by the parser's error code; anything else is a 400. */
const CLIENT_ERRORS: Record<string, [number, string, string, string]> = {
  HPE_HEADER_OVERFLOW: [431, 'Request Header Fields Too Large', 'HEADERS_TOO_LARGE', 'The request headers exceed the size this service reads.'],
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'Request Timeout', 'REQUEST_TIMEOUT', 'The request did not arrive whole within HTTP_REQUEST_TIMEOUT_MS; closing the connection.'],
};

/**
 * Node's 'clientError': a request it could not parse (a malformed chunk, a bad Content-Length, headers
 * too large) or one past its deadlines. Node's own answer has no body; spec section 10 wants every
 * non-2xx answer to be the JSON error, so it is written here, on the socket, as there is no response.
 */
export function answerClientError(err: Error & { code?: string; reason?: string }, socket: Duplex & { _httpMessage?: { headersSent?: boolean } }): void {
  // A reset connection has no one to answer, and an answer already under way cannot be replaced.
  if (err.code === 'ECONNRESET' || !socket.writable || socket._httpMessage?.headersSent) {
    socket.destroy();
    return;
  }
  const [status, text, code, message] = CLIENT_ERRORS[err.code ?? ''] ?? [400, 'Bad Request', 'BAD_REQUEST', `The request is not valid HTTP/1.1: ${err.reason ?? err.message}.`];
  const body = JSON.stringify({ error: { code, message } });
  socket.end(`HTTP/1.1 ${status} ${text}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

export class BodyTooLargeError extends Error {
  constructor(public readonly limit: number) {
    super(`request body exceeds the limit of ${limit} bytes`);
  }
}

/** Raised when buffering one more chunk would take the process over its budget for unfinished bodies. */
export class BodyBudgetExceededError extends Error {
  constructor(public readonly budget: number) {
    super(`The service is holding ${budget} bytes of unfinished request bodies (HTTP_BODY_BUFFER_BYTES); try again shortly.`);
  }
}

/**
 * Bytes of bodies read whole but not finished yet, across every connection: without a
 * ceiling, many clients each holding a large unfinished body would hold as many megabytes.
 */
export class BodyBudget {
  private used = 0;
  constructor(readonly limit: number) {}

  get inUse(): number {
    return this.used;
  }

  take(bytes: number): void {
    if (this.used + bytes > this.limit) throw new BodyBudgetExceededError(this.limit);
    this.used += bytes;
  }

  give(bytes: number): void {
    this.used -= bytes;
  }
}

/** Reads a small body whole, within the process-wide budget; the ingest endpoint streams instead. */
export async function readBody(req: IncomingMessage, limit: number, budget: BodyBudget): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) throw new BodyTooLargeError(limit);
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      if (size + chunk.length > limit) throw new BodyTooLargeError(limit);
      budget.take(chunk.length);
      size += chunk.length;
      chunks.push(chunk);
    }
  } finally {
    budget.give(size);
  }
  return Buffer.concat(chunks);
}

/**
 * The request target as a URL. `new URL('//v1/events', base)` would read the target as
 * protocol-relative (host "v1", path "/events"); a client that joins a base URL ending in '/'
 * sends exactly that. Repeated slashes in the path are merged, as nginx does by default.
 */
export function requestUrl(target: string | undefined): URL {
  const raw = target ?? '/';
  // The absolute form (`http://host/path`, sent to proxies) keeps its own meaning.
  if (!raw.startsWith('/')) return new URL(raw, 'http://localhost');
  const q = raw.indexOf('?');
  const path = q < 0 ? raw : raw.slice(0, q);
  return new URL(path.replace(/\/{2,}/g, '/') + (q < 0 ? '' : raw.slice(q)), 'http://localhost');
}
