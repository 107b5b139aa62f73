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
  throw new BadInputError(`"after" is not a cursor returned by ${query}`, 'after');
}
