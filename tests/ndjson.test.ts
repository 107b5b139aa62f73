import { describe, expect, it } from 'vitest';
import { INVALID_UTF8, NdjsonSplitter, lineTooLong, readLines, type NdjsonLine } from '../server/ingest/ndjson.js';

async function* chunksOf(...parts: (string | Uint8Array)[]): AsyncGenerator<Uint8Array> {
  for (const p of parts) yield typeof p === 'string' ? Buffer.from(p) : p;
}

async function collect(body: AsyncIterable<Uint8Array>, maxLineBytes = 1024): Promise<NdjsonLine[]> {
  const out: NdjsonLine[] = [];
  for await (const l of readLines(body, { maxLineBytes })) out.push(l);
  return out;
}

/** The same bytes split at every possible position must give the same lines. */
async function everySplit(bytes: Buffer, maxLineBytes: number): Promise<NdjsonLine[]> {
  const whole = await collect(chunksOf(bytes), maxLineBytes);
  for (let i = 0; i <= bytes.length; i++) {
    expect(await collect(chunksOf(bytes.subarray(0, i), bytes.subarray(i)), maxLineBytes), `split at ${i}`).toEqual(whole);
  }
  const bytewise = await collect(chunksOf(...Array.from(bytes, (b) => Uint8Array.of(b))), maxLineBytes);
  expect(bytewise).toEqual(whole);
  return whole;
}

describe('readLines', () => {
  it('splits on newlines and numbers lines from 1', async () => {
    expect(await collect(chunksOf('{"a":1}\n{"b":2}\n'))).toEqual([
      { line: 1, text: '{"a":1}' },
      { line: 2, text: '{"b":2}' },
    ]);
  });

  it('keeps a last line without final newline', async () => {
    expect(await collect(chunksOf('{"a":1}\n{"b":2}'))).toEqual([
      { line: 1, text: '{"a":1}' },
      { line: 2, text: '{"b":2}' },
    ]);
  });

  it('strips the CR of CRLF', async () => {
    expect(await collect(chunksOf('{"a":1}\r\n{"b":2}\r\n'))).toEqual([
      { line: 1, text: '{"a":1}' },
      { line: 2, text: '{"b":2}' },
    ]);
  });

  it('skips blank and whitespace-only lines but counts them', async () => {
    expect(await collect(chunksOf('\n{"a":1}\n   \n\t\r\n\r\n{"b":2}\n\n'))).toEqual([
      { line: 2, text: '{"a":1}' },
      { line: 6, text: '{"b":2}' },
    ]);
    expect(await collect(chunksOf(''))).toEqual([]);
    expect(await collect(chunksOf('\n\n \n'))).toEqual([]);
  });

  it('keeps inner whitespace and text as is', async () => {
    expect(await collect(chunksOf('  {"a": "x y"}  \n'))).toEqual([{ line: 1, text: '  {"a": "x y"}  ' }]);
  });

  it('reports invalid UTF-8 on its own line only', async () => {
    const body = Buffer.concat([Buffer.from('{"a":1}\n{"b":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}\n{"c":"é😀"}\n')]);
    expect(await collect(chunksOf(body))).toEqual([
      { line: 1, text: '{"a":1}' },
      { line: 2, error: 'line is not valid UTF-8' },
      { line: 3, text: '{"c":"é😀"}' },
    ]);
  });

  it('treats overlong encodings, encoded surrogates and truncated sequences as invalid', async () => {
    for (const bad of [[0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0xff], [0xf4, 0x90, 0x80, 0x80]]) {
      const body = Buffer.concat([Buffer.from('{"x":"'), Buffer.from(bad), Buffer.from('"}')]);
      expect(await collect(chunksOf(body))).toEqual([{ line: 1, error: INVALID_UTF8 }]);
    }
  });

  it('decodes multi-byte characters split across chunks', async () => {
    const bytes = Buffer.from('{"c":"é😀中"}\n{"d":"ü"}');
    expect(await everySplit(bytes, 1024)).toEqual([
      { line: 1, text: '{"c":"é😀中"}' },
      { line: 2, text: '{"d":"ü"}' },
    ]);
  });

  it('gives the same lines wherever the chunks are cut', async () => {
    const bytes = Buffer.concat([
      Buffer.from('{"a":1}\r\n\n  \n{"b":"é"}\n'),
      Buffer.from([0xfe, 0x0a]),
      Buffer.from(`${'x'.repeat(20)}\r\n${'y'.repeat(16)}\r\n${'z'.repeat(17)}\n{"c":3}`),
    ]);
    expect(await everySplit(bytes, 16)).toEqual([
      { line: 1, text: '{"a":1}' },
      { line: 4, text: '{"b":"é"}' },
      { line: 5, error: INVALID_UTF8 },
      { line: 6, error: 'line is longer than 16 bytes' },
      { line: 7, text: 'y'.repeat(16) },
      { line: 8, error: 'line is longer than 16 bytes' },
      { line: 9, text: '{"c":3}' },
    ]);
  });

  it('measures the limit in bytes without the line terminator', async () => {
    expect(await collect(chunksOf(`${'a'.repeat(8)}\r\n${'é'.repeat(4)}\n${'é'.repeat(4)}a\n`), 8)).toEqual([
      { line: 1, text: 'a'.repeat(8) },
      { line: 2, text: 'é'.repeat(4) },
      { line: 3, error: lineTooLong(8) },
    ]);
  });

  it('rejects a 2 MB line under a 1 MB limit and goes on with the next line', async () => {
    const MB = 1024 * 1024;
    const big = Buffer.alloc(2 * MB, 0x61);
    // streamed in 64 KiB chunks like a socket would
    const parts: Buffer[] = [Buffer.from('{"a":1}\n')];
    for (let i = 0; i < big.length; i += 65536) parts.push(big.subarray(i, i + 65536));
    parts.push(Buffer.from('\n{"b":2}\n'));
    expect(await collect(chunksOf(...parts), MB)).toEqual([
      { line: 1, text: '{"a":1}' },
      { line: 2, error: 'line is longer than 1048576 bytes' },
      { line: 3, text: '{"b":2}' },
    ]);
    // in one chunk too
    expect(await collect(chunksOf(Buffer.concat(parts)), MB)).toEqual([
      { line: 1, text: '{"a":1}' },
      { line: 2, error: 'line is longer than 1048576 bytes' },
      { line: 3, text: '{"b":2}' },
    ]);
    // and as the last line, without final newline
    expect(await collect(chunksOf(...parts.slice(0, -1)), MB)).toEqual([
      { line: 1, text: '{"a":1}' },
      { line: 2, error: 'line is longer than 1048576 bytes' },
    ]);
  });

  it('does not buffer an overlong line', () => {
    const splitter = new NdjsonSplitter(1000);
    const chunk = Buffer.alloc(600, 0x61);
    expect(splitter.push(chunk)).toEqual([]);
    expect(splitter.push(chunk)).toEqual([{ line: 1, error: lineTooLong(1000) }]);
    for (let i = 0; i < 100; i++) expect(splitter.push(chunk)).toEqual([]);
    expect((splitter as unknown as { pendingBytes: number }).pendingBytes).toBe(0);
    expect(splitter.push(Buffer.from('aaa\n{}'))).toEqual([]);
    expect(splitter.end()).toEqual([{ line: 2, text: '{}' }]);
  });

  it('skips a UTF-8 byte order mark at the start of the body only', async () => {
    const bom = Buffer.from([0xef, 0xbb, 0xbf]);
    expect(await collect(chunksOf(Buffer.concat([bom, Buffer.from('{"a":1}\n')])))).toEqual([{ line: 1, text: '{"a":1}' }]);
    expect(await collect(chunksOf(bom, '{"a":1}'))).toEqual([{ line: 1, text: '{"a":1}' }]);
    expect(await collect(chunksOf(Buffer.concat([Buffer.from('{}\n'), bom, Buffer.from('{}')])))).toEqual([
      { line: 1, text: '{}' },
      { line: 2, text: '\ufeff{}' },
    ]);
  });

  it('accepts plain Uint8Array chunks', async () => {
    const u = new Uint8Array(new TextEncoder().encode('xx{"a":1}\n').buffer, 2);
    expect(await collect(chunksOf(u))).toEqual([{ line: 1, text: '{"a":1}' }]);
  });

  it('numbers 100k lines correctly across chunk boundaries', async () => {
    const lines: string[] = [];
    for (let i = 1; i <= 100_000; i++) lines.push(i % 10 === 0 ? '' : `{"i":${i}}`);
    const body = Buffer.from(`${lines.join('\n')}\n`);
    const parts: Buffer[] = [];
    for (let i = 0; i < body.length; i += 4093) parts.push(body.subarray(i, i + 4093));
    const out = await collect(chunksOf(...parts));
    expect(out).toHaveLength(90_000);
    for (const l of out) expect('text' in l && l.text).toBe(`{"i":${l.line}}`);
  });
});
