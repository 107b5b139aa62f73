// NDJSON line splitter for `POST /v1/events` (spec section 10).
//
// Streaming: memory is O(longest accepted line + one chunk). A line longer than
// maxLineBytes is reported as soon as it overflows and its remaining bytes are dropped
// up to the next '\n', so a 2 MB line never gets buffered.
//
// Decisions:
// - A line's length counts its bytes without the '\n' and without a trailing '\r'.
// - Blank means only JSON whitespace (space, tab, CR). Blank lines yield nothing but
//   are numbered; the empty remainder after a final '\n' is not a line.
// - A UTF-8 byte order mark at the very start of the body is skipped (Windows tools
//   write one); anywhere else it is content and JSON.parse rejects it.
// - UTF-8 is validated with buffer.isUtf8 (simdutf) over all complete lines of a chunk
//   at once and decoded with one toString: same strictness as
//   `new TextDecoder('utf-8', { fatal: true })` (overlongs, surrogates and truncated
//   sequences are invalid) but faster than per-line TextDecoder calls
//   (docs/performance.md). Only a chunk holding an invalid line falls back to per-line checks.
import { isUtf8 } from 'node:buffer';

export type NdjsonLine = { line: number; text: string } | { line: number; error: string };

export const INVALID_UTF8 = 'line is not valid UTF-8';
export const lineTooLong = (maxLineBytes: number): string => `line is longer than ${maxLineBytes} bytes`;

const LF = 10;
const CR = 13;

/**
 * Synchronous core of readLines, for callers that want to avoid one await per line:
 * `for await (const chunk of body) for (const l of splitter.push(chunk)) ...;
 *  for (const l of splitter.end()) ...`.
 */
export class NdjsonSplitter {
  private lines = 0; // lines terminated so far; the current line is lines + 1
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private skipping = false; // the current line overflowed and was reported
  private readonly tooLong: string;

  constructor(private readonly maxLineBytes: number) {
    this.tooLong = lineTooLong(maxLineBytes);
  }

  push(chunk: Uint8Array, out: NdjsonLine[] = []): NdjsonLine[] {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const len = buf.length;
    let pos = 0;
    if (this.skipping || this.pendingBytes > 0) {
      const nl = buf.indexOf(LF);
      if (nl < 0) {
        if (!this.skipping) this.append(buf, 0, len, out);
        return out;
      }
      if (this.skipping) {
        this.skipping = false;
        this.lines++;
      } else if (this.pendingBytes + nl > this.maxLineBytes + 1) {
        this.pending = [];
        this.pendingBytes = 0;
        out.push({ line: ++this.lines, error: this.tooLong });
      } else {
        this.pending.push(buf.subarray(0, nl));
        const line = Buffer.concat(this.pending, this.pendingBytes + nl);
        this.pending = [];
        this.pendingBytes = 0;
        this.emitBytes(line, 0, line.length, out);
      }
      pos = nl + 1;
    }
    const last = buf.lastIndexOf(LF);
    if (last >= pos) {
      this.emitRegion(buf, pos, last, out);
      pos = last + 1;
    }
    if (pos < len) this.append(buf, pos, len, out);
    return out;
  }

  /** Flushes a last line that has no final '\n'. */
  end(out: NdjsonLine[] = []): NdjsonLine[] {
    if (this.skipping) {
      this.skipping = false;
      this.lines++;
    } else if (this.pendingBytes > 0) {
      const line = Buffer.concat(this.pending, this.pendingBytes);
      this.pending = [];
      this.pendingBytes = 0;
      this.emitBytes(line, 0, line.length, out);
    }
    return out;
  }

  private append(buf: Buffer, start: number, end: number, out: NdjsonLine[]): void {
    const total = this.pendingBytes + (end - start);
    // +1: the line may still end in '\r', which does not count.
    if (total > this.maxLineBytes + 1) {
      this.pending = [];
      this.pendingBytes = 0;
      this.skipping = true;
      out.push({ line: this.lines + 1, error: this.tooLong });
      return;
    }
    this.pending.push(buf.subarray(start, end));
    this.pendingBytes = total;
  }

  /** [start, end) holds complete lines; end is the index of the last '\n'. */
  private emitRegion(buf: Buffer, start: number, end: number, out: NdjsonLine[]): void {
    if (isUtf8(buf.subarray(start, end))) {
      const s = buf.toString('utf8', start, end);
      let i = 0;
      for (;;) {
        const j = s.indexOf('\n', i);
        this.emitString(s, i, j < 0 ? s.length : j, out);
        if (j < 0) return;
        i = j + 1;
      }
    }
    let i = start;
    for (;;) {
      const j = buf.indexOf(LF, i);
      const e = j < 0 || j > end ? end : j;
      this.emitBytes(buf, i, e, out);
      if (e === end) return;
      i = e + 1;
    }
  }

  private emitString(s: string, i: number, e: number, out: NdjsonLine[]): void {
    const line = ++this.lines;
    if (e > i && s.charCodeAt(e - 1) === CR) e--;
    if (line === 1 && s.charCodeAt(i) === 0xfeff) i++;
    const units = e - i;
    // UTF-8 needs at least one byte per UTF-16 unit and at most three.
    if (units > this.maxLineBytes || (units * 3 > this.maxLineBytes && Buffer.byteLength(s.slice(i, e)) > this.maxLineBytes)) {
      out.push({ line, error: this.tooLong });
      return;
    }
    let k = i;
    for (; k < e; k++) {
      const c = s.charCodeAt(k);
      if (c !== 32 && c !== 9 && c !== CR) break;
    }
    if (k < e) out.push({ line, text: s.slice(i, e) });
  }

  private emitBytes(buf: Buffer, i: number, e: number, out: NdjsonLine[]): void {
    const line = ++this.lines;
    if (e > i && buf[e - 1] === CR) e--;
    if (line === 1 && e - i >= 3 && buf[i] === 0xef && buf[i + 1] === 0xbb && buf[i + 2] === 0xbf) i += 3;
    if (e - i > this.maxLineBytes) {
      out.push({ line, error: this.tooLong });
      return;
    }
    let k = i;
    for (; k < e; k++) {
      const c = buf[k];
      if (c !== 32 && c !== 9 && c !== CR) break;
    }
    if (k === e) return;
    if (!isUtf8(buf.subarray(i, e))) out.push({ line, error: INVALID_UTF8 });
    else out.push({ line, text: buf.toString('utf8', i, e) });
  }
}

/** Yields the non-blank lines of an NDJSON body, numbered from 1, or their error. */
export async function* readLines(
  body: AsyncIterable<Buffer | Uint8Array>,
  opts: { maxLineBytes: number },
): AsyncGenerator<NdjsonLine> {
  const splitter = new NdjsonSplitter(opts.maxLineBytes);
  const out: NdjsonLine[] = [];
  for await (const chunk of body) {
    splitter.push(chunk, out);
    for (let i = 0; i < out.length; i++) yield out[i]!;
    out.length = 0;
  }
  yield* splitter.end();
}
