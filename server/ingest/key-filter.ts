import { endianness } from 'node:os';
import type { Executor, QueryContext } from '../storage/executor.js';
import type { TableName } from './validate.js';

/**
 * MurmurHash3 x86_32 with seed 0 of `bytes`: ClickHouse's `murmurHash3_32` of the same bytes,
 * so the engine can hash the stored eventIds and the writer the incoming ones alike.
 */
export function murmur3(bytes: Uint8Array): number {
  const n = bytes.length;
  const whole = n & ~3;
  let h = 0;
  for (let i = 0; i < whole; i += 4) {
    h ^= mix(bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24));
    h = (Math.imul(rotl(h, 13), 5) + 0xe6546b64) | 0;
  }
  let tail = 0;
  if ((n & 3) >= 3) tail ^= bytes[whole + 2]! << 16;
  if ((n & 3) >= 2) tail ^= bytes[whole + 1]! << 8;
  if ((n & 3) >= 1) h ^= mix(tail ^ bytes[whole]!);
  h ^= n;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

// Module-level, not closures in murmur3: it runs twice per event ingested.
function rotl(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

function mix(k: number): number {
  return Math.imul(rotl(Math.imul(k, 0xcc9e2d51), 15), 0x1b873593);
}

/** A key's two hashes: of `table:eventId`, and of the same with a newline appended (the engine computes both the same way). */
function hashes(table: TableName, eventId: string): [number, number] {
  const key = Buffer.from(`${table}:${eventId}\n`, 'utf8');
  return [murmur3(key.subarray(0, key.length - 1)), murmur3(key)];
}

const BITS_PER_KEY = 8;
/** 256 MiB of bits: past about 200M keys the false positives grow instead of the memory. */
const MAX_BITS_LOG2 = 31;
/** Keys per statement of the load: 8 bytes each, base64 in one JSON string, well below V8's longest string. */
const LOAD_CHUNK_KEYS = 8_000_000;
const LITTLE_ENDIAN = endianness() === 'LE';

/**
 * The writer's in-memory Bloom filter of every stored eventId (docs/architecture.md, "Exactly
 * once"). The duplicate look-up asks the raw tables only about the ids the filter may hold, a
 * few in a hundred at most, so it reads the granules their bloom indexes point to instead of
 * scanning every event_id of a table: the scan grew with the store (at 30M purchases a 40 000-
 * event group's look-ups took about as long as its inserts, and the ingest rate was half that into
 * an empty store). A filter never misses a key it was given, so the answer stays exact: every
 * stored key is in it, the load's (all rows stored when the writer starts) or the writer's own,
 * added before the rows are inserted, so a failed insert leaves at most extra keys, which
 * cost one look-up each. At least 8 bits for each of 1.5 times the stored keys, rounded up to a
 * power of two (false positives 0.05% for 19M keys in 64 MB, about 3% when full); once full, the
 * writer loads a new one, 1.5 times the keys stored then.
 *
 * Blocked (Putze, Sanders and Singler): a key's four bits lie in one 512-bit block, one cache
 * line, so adding or testing a key costs one memory access; four probes spread over a filter of
 * 64 MB cost four cache misses: loading 19M keys took 170 ns a key that way, 100 ns this way
 * (decoding included).
 */
export class KeyFilter {
  private readonly bits: Uint8Array;
  private readonly blockMask: number;
  private keys = 0;

  constructor(readonly capacity: number) {
    const log2 = Math.min(MAX_BITS_LOG2, Math.max(16, Math.ceil(Math.log2(capacity * BITS_PER_KEY))));
    this.bits = new Uint8Array(2 ** (log2 - 3));
    this.blockMask = 2 ** (log2 - 9) - 1;
  }

  get full(): boolean {
    return this.keys > this.capacity;
  }

  addHashes(h1: number, h2: number): void {
    this.keys++;
    this.probe(h1, h2, true);
  }

  /** False only for a key that was never added. */
  mayHold(table: TableName, eventId: string): boolean {
    const [h1, h2] = hashes(table, eventId);
    return this.probe(h1, h2, false);
  }

  /**
   * mayHold, and the key added in the same pass (one hashing per event on the writer's path).
   * Adding a key that turns out to be stored already, or whose rows then fail to land, only
   * costs a look-up later: the filter may hold more than is stored, never less.
   */
  mayHoldThenAdd(table: TableName, eventId: string): boolean {
    const [h1, h2] = hashes(table, eventId);
    this.keys++;
    return this.probe(h1, h2, true);
  }

  /**
   * Whether the key's four bits are all set (setting them when `set`). The block from h1's low
   * bits (at most 22 of them); the bits in it from h2's three lowest 9-bit fields and h1's top nine.
   */
  private probe(h1: number, h2: number, set: boolean): boolean {
    const b = (h1 & this.blockMask) << 6;
    let held = true;
    for (let k = 0; k < 4; k++) {
      const p = k < 3 ? (h2 >>> (9 * k)) & 511 : h1 >>> 23;
      const byte = b + (p >>> 3);
      const bit = 1 << (p & 7);
      if ((this.bits[byte]! & bit) === 0) {
        if (!set) return false;
        held = false;
        this.bits[byte]! |= bit;
      }
    }
    return held;
  }
}

/**
 * A filter of every eventId stored in `tables`, sized for 1.5 times as many: the engine hashes the
 * stored keys (no id leaves it) and sends them packed, 8 bytes a key, in chunks by a hash of the
 * id. The caller guarantees no write meanwhile (the writer runs it as a step of its queue).
 */
export async function loadKeyFilter(exec: Executor, tables: readonly TableName[], ctx: QueryContext): Promise<KeyFilter> {
  const counts = await Promise.all(
    tables.map(async (table) => {
      const [row] = await exec.rows<{ n: number }>({ query: 'SELECT count() AS n FROM {db:Identifier}.{table:Identifier}', query_params: { table } }, ctx);
      return Number(row?.n ?? 0);
    }),
  );
  const filter = new KeyFilter(Math.max(1_000_000, Math.ceil(1.5 * counts.reduce((a, b) => a + b, 0))));
  for (const [i, table] of tables.entries()) {
    const chunks = Math.max(1, Math.ceil(counts[i]! / LOAD_CHUNK_KEYS));
    for (let chunk = 0; chunk < chunks; chunk++) {
      const [row] = await exec.rows<{ packed: string }>(
        {
          query: `SELECT base64Encode(arrayStringConcat(groupArray(concat(reinterpret(murmurHash3_32(k), 'FixedString(4)'), reinterpret(murmurHash3_32(concat(k, '\\n')), 'FixedString(4)'))))) AS packed
                  FROM (SELECT concat({prefix:String}, event_id) AS k FROM {db:Identifier}.{table:Identifier} WHERE cityHash64(event_id) % {chunks:UInt64} = {chunk:UInt64})`,
          query_params: { prefix: `${table}:`, table, chunks, chunk },
        },
        ctx,
        { max_execution_time: 0 },
      );
      const bytes = Buffer.from(row?.packed ?? '', 'base64');
      // The engine writes each hash little-endian: on a little-endian machine (x86-64, arm64) a
      // typed array over an aligned copy reads them without a call per hash.
      if (LITTLE_ENDIAN) {
        const words = new Uint32Array(new Uint8Array(bytes).buffer, 0, bytes.length >>> 2);
        for (let at = 0; at + 1 < words.length; at += 2) filter.addHashes(words[at]!, words[at + 1]!);
      } else {
        for (let at = 0; at + 8 <= bytes.length; at += 8) filter.addHashes(bytes.readUInt32LE(at), bytes.readUInt32LE(at + 4));
      }
    }
  }
  return filter;
}
