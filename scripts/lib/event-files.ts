// Reading an event file as it streams, shared by `npm run ingest` and `npm run import`:
// gzip by name, NDJSON lines as raw bytes, CSV records numbered by their file line.
import { isUtf8 } from 'node:buffer';
import { createReadStream } from 'node:fs';
import { Readable, pipeline } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { parse as parseCsv } from 'csv-parse';

/** Bad options or an unreadable file: the CLIs exit 2. */
export class InputError extends Error {}

/** A file's bytes, decompressed as they stream when the name ends in .gz; `bytesRead` counts the file's own (compressed) bytes for the progress bar. */
export class EventFile {
  bytesRead = 0;
  constructor(readonly path: string) {}

  private async *fileBytes(): AsyncGenerator<Buffer> {
    const stream = createReadStream(this.path);
    try {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        this.bytesRead += chunk.length;
        yield chunk;
      }
    } catch (e) {
      throw new InputError(`Cannot read ${this.path}: ${(e as Error).message}`);
    }
  }

  async *content(): AsyncGenerator<Buffer> {
    if (!/\.gz$/i.test(this.path)) return yield* this.fileBytes();
    const gunzip = pipeline(Readable.from(this.fileBytes()), createGunzip(), () => {});
    try {
      yield* gunzip as AsyncIterable<Buffer>;
    } catch (e) {
      throw e instanceof InputError ? e : new InputError(`Cannot decompress ${this.path}: ${(e as Error).message}`);
    }
  }
}

/** A line of the file as the bytes to send, with its 1-based line number in the file. */
export interface FileLine {
  line: number;
  bytes: Buffer;
}

/**
 * NDJSON lines split on '\n' only and kept as raw bytes, exactly as the service splits a
 * body: its line numbers match the file's, and a line with invalid UTF-8 reaches the service
 * (which rejects it) instead of being silently repaired by a text decoder.
 */
export async function* ndjsonLines(file: EventFile): AsyncGenerator<FileLine> {
  let line = 0;
  let pending: Buffer[] = [];
  for await (const chunk of file.content()) {
    let start = 0;
    for (let nl = chunk.indexOf(10); nl >= 0; nl = chunk.indexOf(10, start)) {
      pending.push(chunk.subarray(start, nl));
      yield { line: ++line, bytes: stripLine(Buffer.concat(pending), line) };
      pending = [];
      start = nl + 1;
    }
    if (start < chunk.length) pending.push(chunk.subarray(start));
  }
  if (pending.length > 0) yield { line: ++line, bytes: stripLine(Buffer.concat(pending), line) };
}

/** Without a trailing '\r' and, on the first line, a UTF-8 byte order mark. */
function stripLine(b: Buffer, line: number): Buffer {
  let start = 0;
  let end = b.length;
  if (line === 1 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) start = 3;
  if (end > start && b[end - 1] === 13) end--;
  return b.subarray(start, end);
}

/** A CSV record's cells, numbered by the file line where the record ends. */
export interface CsvRecord {
  line: number;
  cells: string[];
}

/**
 * The records after the header row, which goes to `onHeader` first (it may throw an
 * InputError to refuse the file; an empty file has no header and no records). Line numbers come from our own count of '\n' bytes up to
 * the record's end offset: csv-parse's `info.lines` counts a CRLF inside a quoted field as
 * two lines.
 */
export async function* csvRecords(file: EventFile, onHeader: (header: string[]) => void): AsyncGenerator<CsvRecord> {
  const newlines: number[] = []; // offsets of '\n' not yet passed by a record
  let passed = 0; // '\n' bytes before the last record's end
  let next = 0; // index into newlines
  async function* counted(): AsyncGenerator<Buffer> {
    let offset = 0;
    let line = 1;
    let partial: Buffer[] = []; // the current line's bytes from earlier chunks
    // csv-parse would decode bytes that are not UTF-8 to U+FFFD, so "Müller" and "Mäller" from a
    // Windows-1252 export would both arrive as "M\uFFFDller", one customer. Each line is checked
    // whole ('\n' is never inside a multi-byte character).
    const check = (bytes: Buffer) => {
      if (!isUtf8(bytes)) {
        throw new InputError(`${file.path} line ${line} is not UTF-8 text: save the file as UTF-8 (Excel: "CSV UTF-8") and run again; a re-run adds no row twice.`);
      }
    };
    for await (let chunk of file.content()) {
      if (offset === 0 && chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf) chunk = chunk.subarray(3);
      let start = 0;
      for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) {
        newlines.push(offset + i);
        check(partial.length === 0 ? chunk.subarray(start, i) : Buffer.concat([...partial, chunk.subarray(start, i)]));
        partial = [];
        start = i + 1;
        line++;
      }
      if (start < chunk.length) partial.push(chunk.subarray(start));
      offset += chunk.length;
      yield chunk;
    }
    if (partial.length > 0) check(Buffer.concat(partial));
  }
  const parser = parseCsv({ skip_empty_lines: true, relax_column_count: true, info: true });
  // pipeline, not pipe: a read error (a file that is no gzip, a directory) ends the parser with
  // it, so the loop below throws it (an InputError: one line and exit 2), where pipe left it an
  // unhandled 'error' event that crashed the process with a stack trace.
  pipeline(Readable.from(counted()), parser, () => {});
  let header = true;
  try {
    for await (const { record, info } of parser as AsyncIterable<{ record: string[]; info: { bytes: number } }>) {
      // info.bytes is just past the record's own '\n' (or the end of the file)
      while (next < newlines.length && newlines[next]! < info.bytes - 1) {
        next++;
        passed++;
      }
      if (next > 100_000) {
        newlines.splice(0, next);
        next = 0;
      }
      if (header) {
        header = false;
        onHeader(record);
        continue;
      }
      yield { line: passed + 1, cells: record };
    }
  } catch (e) {
    if (e instanceof InputError) throw e;
    // csv-parse's own errors (a stray quote, an unclosed one) are the file's: exit 2, naming it.
    const at = (e as { lines?: number }).lines;
    throw new InputError(`${file.path}${at ? ` line ${at}` : ''} is not CSV this tool can read: ${(e as Error).message}`);
  }
}
