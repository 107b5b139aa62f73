import { BadInputError } from './errors.js';

/**
 * Opaque page cursors: the sort key of a page's last row as base64url JSON, so clients pass it
 * back without reading into it and keyset pagination stays stable while rows are added.
 */
export function encodeCursor(key: readonly string[]): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

/** The sort key of a cursor of `query` with `length` parts; anything else is refused naming `after`. */
export function decodeCursor(cursor: string, length: number, query: string): string[] {
  try {
    const key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(key) && key.length === length && key.every((k) => typeof k === 'string')) return key as string[];
  } catch {
    // falls through to the error below
  }
  throw notACursor(query);
}

/** Rows per page of a history list (kpiSnapshots, alertEvents, webhookDeliveries). */
export const MAX_PAGE = 100;

/** The histories (kpiSnapshots, alertEvents) page newest first by (instant, id). */
export interface PageCursor {
  at: Date;
  id: string;
}

export function encodeTimeCursor(at: Date, id: string): string {
  return encodeCursor([at.toISOString(), id]);
}

export function decodeTimeCursor(cursor: string, query: string): PageCursor {
  const [at, id] = decodeCursor(cursor, 2, query) as [string, string];
  const instant = new Date(at);
  if (Number.isNaN(instant.getTime())) throw notACursor(query);
  return { at: instant, id };
}

function notACursor(query: string): BadInputError {
  return new BadInputError(`"after" is not a cursor returned by ${query}`, 'after');
}
