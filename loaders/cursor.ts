import { BadInputError } from './errors.js';

/** Keyset pagination shared by the history lists (kpiSnapshots, alertEvents): a page is newest first by (instant, id). */
export const MAX_PAGE = 100;

export interface PageCursor {
  at: Date;
  id: string;
}

export function checkPageSize(first: number): number {
  if (!Number.isInteger(first) || first < 1 || first > MAX_PAGE) {
    throw new BadInputError(`"first" must be an integer from 1 to ${MAX_PAGE} (got ${first})`, 'first');
  }
  return first;
}

/** The last row's (instant, id): pages stay stable while rows are added. */
export function encodeCursor(at: Date, id: string): string {
  return Buffer.from(JSON.stringify([at.toISOString(), id])).toString('base64url');
}

/** `query` names the list the cursor must come from, for the error. */
export function decodeCursor(cursor: string, query: string): PageCursor {
  try {
    const [at, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown[];
    const instant = new Date(at as string);
    if (typeof at === 'string' && typeof id === 'string' && !Number.isNaN(instant.getTime())) return { at: instant, id };
  } catch {
    // falls through to the error below
  }
  throw new BadInputError(`"after" is not a cursor returned by ${query}`, 'after');
}
