import { request } from 'node:http';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { csvRecord, writeCsv } from '../server/csv.js';
import { jsonEachRow } from '../server/storage/executor.js';
import { startTestService, type TestService } from './helpers/service.js';

// A store of 20 000 customers made by the engine (INSERT … SELECT FROM numbers()): customer n
// first buys on the 10th of January, February or March 2023 (n % 3 = 0, 1, 2), and the even ones
// buy again a month later. Hand-computed: the January cohort holds the n with n % 3 = 0, 6 667 of
// them; its offset 1 retains those with n % 6 = 0, 3 334; the others of the cohort are 3 333.
const N = 20_000;
const AS_OF = '2023-06-01T00:00:00Z';
const JANUARY = '2023-01-01T00:00:00Z';
const id = (n: number) => `c${String(n).padStart(5, '0')}`;
const range = (pred: (n: number) => boolean) => Array.from({ length: N }, (_, n) => n).filter(pred).map(id);

let svc: TestService;

/** The body of a GET as its chunks arrive, without holding it whole in the client either. */
function getChunks(path: string, onChunk: (chunk: Buffer) => boolean | void): Promise<{ status: number; headers: Record<string, unknown>; chunks: number }> {
  return new Promise((resolve, reject) => {
    const req = request(`${svc.url}${path}`, (res) => {
      let chunks = 0;
      res.on('data', (chunk: Buffer) => {
        chunks++;
        if (onChunk(chunk) === false) {
          req.destroy();
          resolve({ status: res.statusCode!, headers: res.headers, chunks });
        }
      });
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, chunks }));
      res.on('error', reject);
    });
    req.on('error', (e) => (req.destroyed ? undefined : reject(e)));
    req.end();
  });
}

beforeAll(async () => {
  svc = await startTestService('t_exports');
  await svc.exec.command(
    `INSERT INTO {db:Identifier}.purchases (event_id, customer_id, occurred_at, amount, currency, order_id, channel)
     SELECT concat('g-', toString(number), '-', toString(k)), concat('c', leftPad(toString(number), 5, '0')),
       toDateTime64('2023-01-10 12:00:00', 3, 'UTC') + toIntervalMonth(number % 3 + k), 10 + number % 7, 'USD', NULL, NULL
     FROM numbers(${N}) ARRAY JOIN if(number % 2 = 0, [0, 1], [0]) AS k`,
    { requestId: 'fixture' },
  );
});
afterAll(async () => {
  await svc?.stop();
});

describe('CSV', () => {
  it('quotes per RFC 4180: commas, quotes and line breaks enclosed, quotes doubled, CRLF ends', () => {
    expect(csvRecord(['a', 'b,c', 'say "hi"', 'two\nlines', 'cr\r', 1.5, null, undefined, true])).toBe('a,"b,c","say ""hi""","two\nlines","cr\r",1.5,,,true\r\n');
  });

  it('pulls the next batch only once the connection has taken the last one', async () => {
    let pulled = 0;
    let written = 0;
    let ahead = 0;
    async function* batches() {
      for (let i = 0; i < 200; i++) {
        pulled++;
        ahead = Math.max(ahead, pulled - written);
        yield [[`row-${i}`]];
      }
    }
    // A connection whose buffer holds one chunk: every write answers false until the socket takes it.
    const sink = new Writable({
      highWaterMark: 1,
      write(_chunk, _enc, done) {
        written++;
        setImmediate(done);
      },
    });
    await writeCsv(sink, ['id'], batches(), new AbortController().signal);
    expect([pulled, written]).toEqual([200, 201]);
    // One batch in hand at most, beside the header: never a backlog in memory.
    expect(ahead).toBe(0);
  });

  it('stops waiting for a drain when the client leaves', async () => {
    const controller = new AbortController();
    let pulled = 0;
    // A connection that never takes its first chunk; the client leaves once it was sent.
    const stuck = new Writable({
      highWaterMark: 1,
      write() {
        queueMicrotask(() => controller.abort());
      },
    });
    async function* batches() {
      pulled++;
      yield [['x']];
    }
    await expect(writeCsv(stuck, ['id'], batches(), controller.signal)).rejects.toThrow(/abort/i);
    expect(pulled).toBe(0);
  });
});

describe('Executor.stream parsing', () => {
  async function collect(chunks: string[] | Buffer[], batchRows: number): Promise<unknown[][]> {
    const out: unknown[][] = [];
    for await (const b of jsonEachRow(chunks.map((c) => (Buffer.isBuffer(c) ? c : Buffer.from(c))), batchRows)) out.push(b);
    return out;
  }

  it('cuts rows at newlines across chunks, a multi-byte character split between two, in batches of at most N', async () => {
    const text = Buffer.from('{"id":"a"}\n{"id":"ü,\\n"}\n{"id":"c"}\n');
    const cut = text.indexOf(Buffer.from('ü')) + 1;
    expect(await collect([text.subarray(0, 3), text.subarray(3, cut), text.subarray(cut)], 2)).toEqual([[{ id: 'a' }, { id: 'ü,\n' }], [{ id: 'c' }]]);
    expect(await collect([text], 5)).toEqual([[{ id: 'a' }, { id: 'ü,\n' }, { id: 'c' }]]);
  });

  it('refuses a stream that breaks off with error text or inside a row', async () => {
    await expect(collect(['{"id":"a"}\nCode: 159. DB::Exception: Timeout exceeded\n'], 10)).rejects.toThrow(/broke off: Code: 159/);
    await expect(collect(['{"id":"a"}\n{"id":'], 10)).rejects.toThrow(/ended inside a row/);
  });
});

describe('GET /v1/exports/cohort-customers.csv on 20 000 customers', () => {
  it('streams the whole cell in chunks, every id once, ascending, as many as the cell counts', async () => {
    const cohorts = await svc.gql(`{ retentionCohorts(from: "${JANUARY}", to: "2023-02-01T00:00:00Z", periods: 1, asOf: "${AS_OF}") { cohorts { size cells { offset retained } } } }`);
    expect(cohorts.data.retentionCohorts.cohorts).toEqual([{ size: 6667, cells: [{ offset: 0, retained: 6667 }, { offset: 1, retained: 3334 }] }]);
    for (const [retained, expected] of [
      ['true', range((n) => n % 6 === 0)],
      ['false', range((n) => n % 3 === 0 && n % 2 === 1)],
    ] as const) {
      let text = '';
      const res = await getChunks(`/v1/exports/cohort-customers.csv?grain=MONTH&cohortStart=${JANUARY}&offset=1&retained=${retained}&asOf=${AS_OF}`, (c) => {
        text += c.toString('utf8');
      });
      expect(res.status).toBe(200);
      // Streamed: chunked, no length known up front, and more than one chunk on the wire.
      expect(res.headers['content-length']).toBeUndefined();
      expect(res.headers['transfer-encoding']).toBe('chunked');
      expect(res.chunks).toBeGreaterThan(1);
      const lines = text.split('\r\n');
      expect(lines.at(-1)).toBe('');
      expect(lines.slice(0, -1)).toEqual(['customerId', ...expected]);
    }
  });

  it('equals the GraphQL pages of the cell', async () => {
    const paged: string[] = [];
    let after: string | null = null;
    for (;;) {
      const r: { data?: any } = await svc.gql(
        `query($after: String) { cohortCustomers(cohortStart: "${JANUARY}", offset: 1, retained: true, asOf: "${AS_OF}", first: 1000, after: $after) { customerIds pageInfo { hasNextPage endCursor } } }`,
        { after },
      );
      paged.push(...r.data.cohortCustomers.customerIds);
      if (!r.data.cohortCustomers.pageInfo.hasNextPage) break;
      after = r.data.cohortCustomers.pageInfo.endCursor;
    }
    const res = await fetch(`${svc.url}/v1/exports/cohort-customers.csv?cohortStart=${JANUARY}&offset=1&retained=true&asOf=${AS_OF}`);
    expect((await res.text()).split('\r\n').slice(1, -1)).toEqual(paged);
    expect(paged.length).toBe(3334);
  });

  it('keeps serving after a client leaves in the middle of an export', async () => {
    let rows = 0;
    const res = await getChunks(`/v1/exports/cohort-customers.csv?cohortStart=${JANUARY}&offset=0&asOf=${AS_OF}`, (c) => {
      rows += c.toString('utf8').split('\r\n').length - 1;
      return false;
    });
    expect(res.status).toBe(200);
    expect(rows).toBeLessThan(6668);
    const again = await fetch(`${svc.url}/v1/exports/cohort-customers.csv?cohortStart=${JANUARY}&offset=0&asOf=${AS_OF}`);
    expect((await again.text()).split('\r\n').length - 2).toBe(6667);
  });
});

describe('GET /v1/exports/at-risk.csv', () => {
  it('equals atRiskCustomers with the same arguments', async () => {
    const args = { first: 1000, maxProbabilityAlive: 1, calibrationEnd: AS_OF, currency: 'USD' };
    const r = await svc.gql(
      `query($first: Int, $maxProbabilityAlive: Float, $calibrationEnd: DateTime, $currency: String) {
        atRiskCustomers(first: $first, maxProbabilityAlive: $maxProbabilityAlive, calibrationEnd: $calibrationEnd, currency: $currency) {
          customers { customerId historicalRevenue orders frequency recency T lastPurchaseAt probabilityAlive valueAtRisk }
        }
      }`,
      args,
    );
    expect(r.errors).toBeUndefined();
    const customers = r.data.atRiskCustomers.customers as Record<string, unknown>[];
    expect(customers.length).toBe(1000);
    const header = ['customerId', 'historicalRevenue', 'orders', 'frequency', 'recency', 'T', 'lastPurchaseAt', 'probabilityAlive', 'valueAtRisk'];
    const expected = [header.join(','), ...customers.map((c) => header.map((h) => String(c[h])).join(','))];
    const res = await fetch(`${svc.url}/v1/exports/at-risk.csv?${new URLSearchParams(Object.entries(args).map(([k, v]) => [k, String(v)]))}`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(expected.map((l) => `${l}\r\n`).join(''));
  });
});

describe('GET /v1/exports/*.csv with API keys', () => {
  const READ = 'export-reader-0123456789';
  const INGEST = 'export-ingester-0123456789';
  let keyed: TestService;
  beforeAll(async () => {
    keyed = await startTestService('t_exports_keys', { API_KEYS: `crm:read:${READ},pipe:ingest:${INGEST}` });
  });
  afterAll(async () => {
    await keyed?.stop();
  });

  it('needs the read scope, like every read route', async () => {
    const url = `${keyed.url}/v1/exports/cohort-customers.csv?cohortStart=${JANUARY}&offset=0&asOf=${AS_OF}`;
    const status = async (key?: string) => (await fetch(url, key ? { headers: { authorization: `Bearer ${key}` } } : {})).status;
    expect([await status(), await status(INGEST), await status(READ)]).toEqual([401, 403, 200]);
  });
});
