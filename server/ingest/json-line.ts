// One NDJSON line -> a JSON object, plus the source text of a numeric top-level `amount`.
//
// The amount rule ("at most 4 decimals counted on the literal as written") needs the
// literal: JSON.parse turns `1.50000` into 1.5. Node 20's JSON.parse has no source-text
// access, so the object comes from JSON.parse (fast path) and, only when `amount` parsed
// as a number, a small scan of the already-validated text recovers that literal. The
// scan follows JSON.parse's semantics: top-level members only (not nested objects, not
// inside strings), keys compared after unescaping ("\u0061mount" is amount), and the
// last duplicate wins.

export const NOT_AN_OBJECT = 'line is not a JSON object';

export type JsonLine =
  | { ok: true; value: Record<string, unknown>; amountLiteral: string | undefined }
  | { ok: false; error: string };

/** Characters a JSON text can start with, after whitespace. */
const JSON_START = /^[\t\n\r ]*(?:[{["\-0-9tfn]|$)/;

export function parseJsonLine(text: string): JsonLine {
  // A CSV line or a log line sent by mistake: said without a thrown SyntaxError, which costs
  // more than validating a valid event (a flood of such lines is the common mistake).
  if (!JSON_START.test(text)) {
    const first = String.fromCodePoint(text.trimStart().codePointAt(0)!);
    return { ok: false, error: `invalid JSON: a line must hold one JSON object, starting with '{' (got ${JSON.stringify(first)})` };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return { ok: false, error: `invalid JSON: ${e instanceof Error ? e.message : String(e)}` };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return { ok: false, error: NOT_AN_OBJECT };
  const obj = value as Record<string, unknown>;
  const amountLiteral = typeof obj.amount === 'number' ? topLevelLiteral(text, 'amount') : undefined;
  return { ok: true, value: obj, amountLiteral };
}

const QUOTE = 34;
const BACKSLASH = 92;
const COMMA = 44;
const CLOSE_BRACE = 125;
// Characters that matter while skipping a nested value.
const STRUCTURAL = /["{}[\]]/g;

/**
 * Raw text of the last top-level member named `key` of a JSON object text that
 * JSON.parse already accepted (so the scan may trust the grammar).
 */
export function topLevelLiteral(text: string, key: string): string | undefined {
  let i = skipWs(text, 0) + 1; // past '{'
  let found: string | undefined;
  for (;;) {
    i = skipWs(text, i);
    if (text.charCodeAt(i) !== QUOTE) return found; // '}' of an empty object
    const keyEnd = stringEnd(text, i);
    let name = text.slice(i + 1, keyEnd - 1);
    if (name.indexOf('\\') >= 0) name = JSON.parse(text.slice(i, keyEnd)) as string;
    i = skipWs(text, skipWs(text, keyEnd) + 1); // past ':'
    const valueEnd = skipValue(text, i);
    if (name === key) found = text.slice(i, valueEnd);
    i = skipWs(text, valueEnd);
    const c = text.charCodeAt(i);
    if (c !== COMMA) return found; // the closing brace
    i++;
  }
}

function skipWs(s: string, i: number): number {
  for (;;) {
    const c = s.charCodeAt(i);
    if (c !== 32 && c !== 9 && c !== 10 && c !== 13) return i;
    i++;
  }
}

/** s[i] is the opening quote; returns the index after the closing quote. */
function stringEnd(s: string, i: number): number {
  let from = i + 1;
  for (;;) {
    const q = s.indexOf('"', from);
    let k = q - 1;
    while (s.charCodeAt(k) === BACKSLASH) k--;
    if ((q - 1 - k) % 2 === 0) return q + 1;
    from = q + 1;
  }
}

function skipValue(s: string, i: number): number {
  const c = s.charCodeAt(i);
  if (c === QUOTE) return stringEnd(s, i);
  if (c === 123 /* { */ || c === 91 /* [ */) {
    let depth = 0;
    STRUCTURAL.lastIndex = i;
    for (;;) {
      const m = STRUCTURAL.exec(s)!;
      const ch = m[0];
      if (ch === '"') {
        STRUCTURAL.lastIndex = stringEnd(s, m.index);
      } else if (ch === '{' || ch === '[') {
        depth++;
      } else if (--depth === 0) {
        return m.index + 1;
      }
    }
  }
  // number, true, false, null: up to the next delimiter
  let j = i + 1;
  for (; j < s.length; j++) {
    const d = s.charCodeAt(j);
    if (d === COMMA || d === CLOSE_BRACE || d === 93 || d === 32 || d === 9 || d === 10 || d === 13) return j;
  }
  return j;
}
