import { once } from 'node:events';
import type { Writable } from 'node:stream';

export type CsvValue = string | number | boolean | null | undefined;

/**
 * One RFC 4180 record: a field holding a comma, a double quote, CR or LF is enclosed in double
 * quotes with its quotes doubled; records end in CRLF. Null and undefined are empty fields.
 */
export function csvRecord(values: readonly CsvValue[]): string {
  return `${values.map(csvField).join(',')}\r\n`;
}

function csvField(v: CsvValue): string {
  if (v === null || v === undefined) return '';
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/**
 * Writes a header record, then every batch of records as one chunk. When the connection's
 * buffer is full (`write` answers false) the next batch is not pulled until it drains, so a
 * slow reader holds back the source (the storage's stream) instead of filling memory. `signal`
 * ends the wait when the client leaves.
 */
export async function writeCsv(out: Writable, header: readonly string[], batches: AsyncIterable<readonly CsvValue[][]>, signal: AbortSignal): Promise<void> {
  const write = async (chunk: string) => {
    if (!out.write(chunk)) await once(out, 'drain', { signal });
  };
  await write(csvRecord(header));
  for await (const batch of batches) if (batch.length > 0) await write(batch.map(csvRecord).join(''));
}
