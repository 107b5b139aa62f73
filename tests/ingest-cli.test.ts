import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, spawnTsx, waitFor } from '../scripts/lib/process.js';
import { startServiceProcess, type ServiceProcess } from '../scripts/lib/service-process.js';
import { memoryOf, resetPeakMemory } from './helpers/memory.js';
import { runTsx } from './helpers/process.js';

// `npm run ingest -- FILE` against a real service in a child process, and that service's
// memory under a flood of invalid lines.

const dir = mkdtempSync(join(tmpdir(), 'kpi-ingest-cli-'));
const dataDir = join(dir, 'data');
const running: ServiceProcess[] = [];
let service: ServiceProcess;

beforeAll(async () => {
  service = await startServiceProcess(dataDir, {}, { port: await freePort() });
  running.push(service);
});
afterAll(async () => {
  for (const s of running) await s.kill();
  rmSync(dir, { recursive: true, force: true });
});

const purchase = (id: string, at = '2024-03-01T10:00:00Z', customer = 'cli-c1') =>
  JSON.stringify({ type: 'purchase', eventId: id, customerId: customer, occurredAt: at, amount: '10.50', currency: 'USD' });
const sideLines = (file: string) =>
  readFileSync(`${file}.rejected.ndjson`, 'utf8')
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as { line: number; eventId: string | null; errors: string[]; text: string });
const SUMMARY = /^done: (\d+) events in [\d.]+ s \(\d+\/s\): accepted (\d+), duplicates (\d+), rejected (\d+)(?: — rejected lines written to (.+))?$/m;

/**
 * POST /v1/events through node:http: on Node 20, fetch (undici) sometimes failed to send this
 * test's 30 MB body right after another request (EPIPE, and the service logged no request).
 */
function postNdjson(url: string, body: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function orders(url: string): Promise<number> {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: '{ repeatPurchaseRate(from: "2000-01-01T00:00:00Z", to: "2099-01-01T00:00:00Z") { orders } }' }),
  });
  return ((await res.json()) as { data: { repeatPurchaseRate: { orders: number } } }).data.repeatPurchaseRate.orders;
}

describe('npm run ingest', { timeout: 90_000 }, () => {
  it('streams NDJSON in batches, prints progress and a summary, and writes rejected lines to a side file', async () => {
    const file = join(dir, 'events.ndjson');
    const survey = JSON.stringify({ type: 'survey', eventId: 'n-s1', customerId: 'cli-c1', surveyId: 'q', kind: 'NPS', score: 9, occurredAt: '2024-03-02T00:00:00Z' });
    writeFileSync(
      file,
      Buffer.concat([
        Buffer.from(
          [
            purchase('n-1'), // 1
            '', // 2
            `${purchase('n-2')}\r`, // 3: CRLF
            'not json', // 4
            survey, // 5
            purchase('n-bad', '2024-03-01T10:00:00'), // 6: no zone
            '',
          ].join('\n'),
        ).subarray(0, -1),
        Buffer.from('\n{"type":"purchase","eventId":"n-u","customerId":"'), // 7: invalid UTF-8
        Buffer.from([0xc3, 0x28]),
        Buffer.from('","occurredAt":"2024-03-01T10:00:00Z","amount":"1","currency":"USD"}\n'),
        Buffer.from(`${purchase('n-1')}\n${purchase('n-3')}`), // 8: duplicate, 9: no final newline
      ]),
    );
    const r = await runTsx('scripts/ingest.ts', [file, '--url', service.url, '--batch', '3']);
    expect(r.stderr.match(/^progress: .*$/gm)).toEqual([
      expect.stringMatching(/^progress: 3 events, \d+\/s, accepted 2, duplicates 0, rejected 1$/),
      expect.stringMatching(/^progress: 6 events, \d+\/s, accepted 3, duplicates 0, rejected 3$/),
      expect.stringMatching(/^progress: 8 events, \d+\/s, accepted 4, duplicates 1, rejected 3$/),
    ]);
    const summary = r.stdout.match(SUMMARY);
    expect(summary?.slice(1)).toEqual(['8', '4', '1', '3', `${file}.rejected.ndjson`]);
    expect(r.code).toBe(1); // some lines were rejected
    const side = sideLines(file);
    expect(side.map((l) => [l.line, l.eventId])).toEqual([[4, null], [6, 'n-bad'], [7, null]]);
    expect(side[0]!.errors).toEqual([expect.stringMatching(/^invalid JSON: /)]);
    expect(side[0]!.text).toBe('not json');
    expect(side[1]).toEqual({ line: 6, eventId: 'n-bad', errors: ['occurredAt: timestamp must include a zone (Z or ±hh:mm)'], text: purchase('n-bad', '2024-03-01T10:00:00') });
    expect(side[2]!.errors).toEqual(['line is not valid UTF-8']);
    expect(side[2]!.text).toBe('{"type":"purchase","eventId":"n-u","customerId":"\ufffd(","occurredAt":"2024-03-01T10:00:00Z","amount":"1","currency":"USD"}');

    // A second run stores nothing new and leaves a fresh side file.
    const again = await runTsx('scripts/ingest.ts', [file, '--url', service.url]);
    expect(again.stdout.match(SUMMARY)?.slice(1, 5)).toEqual(['8', '0', '5', '3']);
    expect(sideLines(file).map((l) => l.line)).toEqual([4, 6, 7]);
  });

  it('reads CSV with a header row, numbering rejected records by their file line', async () => {
    const file = join(dir, 'events.csv');
    writeFileSync(
      file,
      [
        'type,eventId,customerId,occurredAt,amount,currency,surveyId,kind,score,comment',
        'purchase,csv-1,k1,2024-04-01T10:00:00Z,10.50,USD,,,,',
        'survey,csv-2,k1,2024-04-02T10:00:00Z,,,s1,NPS,9,"great, really', // a quoted field over two lines
        'and on a second line"',
        '',
        'purchase,csv-3,k2,2024-04-03T10:00:00Z,1.12345,USD,,,,',
        'survey,csv-4,k2,2024-04-04T10:00:00Z,,,s1,CSAT,7,',
        '',
      ].join('\r\n'),
    );
    const r = await runTsx('scripts/ingest.ts', [file, '--url', service.url]);
    expect(r.stdout.match(SUMMARY)?.slice(1)).toEqual(['4', '2', '0', '2', `${file}.rejected.ndjson`]);
    expect(r.stderr).toMatch(/^progress: 4 events, \d+\/s, accepted 2, duplicates 0, rejected 2$/m);
    expect(sideLines(file)).toEqual([
      {
        line: 6,
        eventId: 'csv-3',
        errors: ['amount: must have at most 4 decimal places (got 5)'],
        text: '{"type":"purchase","eventId":"csv-3","customerId":"k2","occurredAt":"2024-04-03T10:00:00Z","amount":"1.12345","currency":"USD"}',
      },
      {
        line: 7,
        eventId: 'csv-4',
        errors: ['score: must be between 1 and 5 for CSAT (got 7)'],
        text: '{"type":"survey","eventId":"csv-4","customerId":"k2","occurredAt":"2024-04-04T10:00:00Z","surveyId":"s1","kind":"CSAT","score":7}',
      },
    ]);
    const res = await fetch(`${service.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ nps(from: "2024-04-01T00:00:00Z", to: "2024-05-01T00:00:00Z") { responses promoters } }' }),
    });
    // csv-2, a promoter (9); csv-4 was rejected
    expect(((await res.json()) as { data: unknown }).data).toEqual({ nps: { responses: 1, promoters: 1 } });
  });

  it('reads loyalty events from CSV with --type, points as numbers, header names trimmed', async () => {
    const file = join(dir, 'loyalty.csv');
    writeFileSync(
      file,
      [
        // Spaces after the commas, as spreadsheets and hand-written files have them.
        'eventId, customerId, occurredAt, action, tier, points',
        'lc-1,m1,2024-04-01T10:00:00Z,JOINED,Gold,',
        'lc-2,m1,2024-04-02T10:00:00Z,POINTS_EARNED,,120',
        'lc-3,m1,2024-04-03T10:00:00Z,TIER_CHANGED,,',
        '',
      ].join('\n'),
    );
    const r = await runTsx('scripts/ingest.ts', [file, '--url', service.url, '--type', 'loyalty']);
    expect(r.stdout.match(SUMMARY)?.slice(1)).toEqual(['3', '2', '0', '1', `${file}.rejected.ndjson`]);
    expect(sideLines(file).map((l) => [l.line, l.errors])).toEqual([[4, ['tier: required when action is TIER_CHANGED']]]);
    const res = await fetch(`${service.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ loyaltyProgram(from: "2024-04-01T00:00:00Z", to: "2024-05-01T00:00:00Z", filter: { loyaltyTier: ["Gold"] }) { members pointsEarned } }' }),
    });
    expect(((await res.json()) as { data: unknown }).data).toEqual({ loyaltyProgram: { members: 1, pointsEarned: 120 } });
  });

  it('keeps the side file complete past the 1,000 rejected lines an answer lists (and takes a --url ending in /)', async () => {
    const file = join(dir, 'many-bad.ndjson');
    // Line n: blank when n % 50 == 0, valid when n % 5 == 1, else invalid.
    const lines: string[] = [];
    const invalid: number[] = [];
    for (let n = 1; n <= 3_000; n++) {
      if (n % 50 === 0) lines.push('');
      else if (n % 5 === 1) lines.push(purchase(`many-${n}`, '2024-07-01T00:00:00Z'));
      else {
        lines.push(n % 2 === 0 ? `bad line ${n}` : purchase(`many-${n}`, '2024-07-01T00:00:00'));
        invalid.push(n);
      }
    }
    writeFileSync(file, `${lines.join('\n')}\n`);
    // A base URL ending in '/' works too.
    const r = await runTsx('scripts/ingest.ts', [file, '--url', `${service.url}/`]);
    // 3,000 lines, 60 blank; n % 5 == 1 is 600 lines, none a multiple of 50: 2,340 invalid.
    expect(invalid).toHaveLength(2_340);
    expect(r.stdout.match(SUMMARY)?.slice(1), r.stderr).toEqual(['2940', '600', '0', '2340', `${file}.rejected.ndjson`]);
    expect(r.code).toBe(1);
    const side = sideLines(file);
    expect(side.map((l) => l.line)).toEqual(invalid);
    expect(side.find((l) => l.line === 3)).toEqual({ line: 3, eventId: 'many-3', errors: ['occurredAt: timestamp must include a zone (Z or ±hh:mm)'], text: purchase('many-3', '2024-07-01T00:00:00') });
    expect(side.find((l) => l.line === 2_998)).toMatchObject({ eventId: null, text: 'bad line 2998' });
  });

  it('names the URL and stops after two quick retries when no service answers (exit 3)', async () => {
    const file = join(dir, 'nowhere.ndjson');
    writeFileSync(file, `${purchase('nowhere-1')}\n`);
    const url = `http://127.0.0.1:${await freePort()}`;
    const r = await runTsx('scripts/ingest.ts', [file], { KPI_URL: url });
    expect(r.code).toBe(3);
    expect(r.stderr.match(/retry \d+\/\d+/g)).toEqual(['retry 1/2', 'retry 2/2']);
    expect(r.stderr).toContain(`ingest failed: Cannot reach the service at ${url} (fetch failed: ECONNREFUSED). Is it running (npm start)? Point --url or KPI_URL at it.`);
    expect(r.stdout).toBe('');
  });

  it('refuses a CSV without a type column once, and takes the type from --type', async () => {
    const file = join(dir, 'no-type.csv');
    writeFileSync(file, ['eventId,customerId,occurredAt,amount,currency', 'nt-1,k9,2024-08-01T10:00:00Z,5,EUR', 'nt-2,k9,2024-08-02T10:00:00Z,5,EURO', ''].join('\n'));
    const refused = await runTsx('scripts/ingest.ts', [file, '--url', service.url]);
    expect(refused.code).toBe(2);
    expect(refused.stderr.trim()).toBe(
      `ingest failed: ${file}: the CSV header has no "type" column (columns: eventId, customerId, occurredAt, amount, currency). ` +
        'Add a type column (purchase, refund, referral, survey, customer, loyalty, touch) or pass --type when every row is of one type.',
    );
    expect(existsSync(`${file}.rejected.ndjson`)).toBe(false);
    const typed = await runTsx('scripts/ingest.ts', [file, '--url', service.url, '--type', 'purchase']);
    expect(typed.stdout.match(SUMMARY)?.slice(1), typed.stderr).toEqual(['2', '1', '0', '1', `${file}.rejected.ndjson`]);
    expect(sideLines(file)).toEqual([
      {
        line: 3,
        eventId: 'nt-2',
        errors: ['currency: must be 3 upper-case letters (got "EURO")'],
        text: '{"type":"purchase","eventId":"nt-2","customerId":"k9","occurredAt":"2024-08-02T10:00:00Z","amount":"5","currency":"EURO"}',
      },
    ]);
  });

  it('decompresses .ndjson.gz and .csv.gz files as they stream', async () => {
    const ndjson = join(dir, 'events.ndjson.gz');
    writeFileSync(ndjson, gzipSync(`${purchase('gz-1')}\n\nnot json\n${purchase('gz-2')}\n`));
    const a = await runTsx('scripts/ingest.ts', [ndjson, '--url', service.url]);
    expect(a.stdout.match(SUMMARY)?.slice(1), a.stderr).toEqual(['3', '2', '0', '1', `${ndjson}.rejected.ndjson`]);
    expect(sideLines(ndjson).map((l) => [l.line, l.text])).toEqual([[3, 'not json']]);
    const csv = join(dir, 'events.csv.gz');
    writeFileSync(csv, gzipSync(['type,eventId,customerId,occurredAt,amount,currency', 'purchase,gz-3,k8,2024-08-03T10:00:00Z,7,USD', ''].join('\n')));
    const b = await runTsx('scripts/ingest.ts', [csv, '--url', service.url]);
    expect(b.stdout.match(SUMMARY)?.slice(1), b.stderr).toEqual(['1', '1', '0', '0', undefined]);
    const broken = join(dir, 'broken.ndjson.gz');
    writeFileSync(broken, 'plain text, not gzip\n');
    const c = await runTsx('scripts/ingest.ts', [broken, '--url', service.url]);
    expect(c.code).toBe(2);
    expect(c.stderr).toContain(`ingest failed: Cannot decompress ${broken}: incorrect header check`);
  });

  it('resumes after the service restarts: retries with backoff, every event stored once', async () => {
    const file = join(dir, 'big.ndjson');
    const total = 30_000;
    const lines: string[] = [];
    for (let i = 0; i < total; i++) lines.push(purchase(`big-${i}`, '2025-06-01T00:00:00Z', `big-c${i % 5000}`));
    writeFileSync(file, `${lines.join('\n')}\n`);
    const before = await orders(service.url);
    const cli = spawnTsx('scripts/ingest.ts', [file, '--url', service.url, '--batch', '3000']);
    await waitFor('three batches', async () => ((cli.stderr().match(/^progress:/gm)?.length ?? 0) >= 3 ? true : undefined), 60_000);
    await service.kill();
    service = await startServiceProcess(dataDir, {}, { port: Number(new URL(service.url).port) });
    running.push(service);
    const { code } = await cli.exited;
    expect(cli.stderr()).toMatch(/connection problem with http:\/\/127\.0\.0\.1:\d+ \(.+\); retry 1\/8 — resent events are deduplicated by eventId/);
    const summary = cli.stdout().match(SUMMARY);
    expect(summary, cli.stderr()).not.toBeNull();
    const [events, accepted, duplicates, rejected] = summary!.slice(1, 5).map(Number);
    expect(code).toBe(0);
    expect(events).toBe(total);
    expect(rejected).toBe(0);
    expect(accepted! + duplicates!).toBe(total);
    // The CLI sends one batch at a time: the one in flight at the kill may have been stored before
    // the crash (its answer lost), and then comes back as duplicates; nothing else can.
    expect(duplicates).toBeLessThanOrEqual(3000);
    expect(await orders(service.url)).toBe(before + total);
  });
});

describe('the service under 30 MB of invalid lines', { timeout: 120_000 }, () => {
  it('answers with the first 1,000, counts them all, and keeps its memory flat', async () => {
    // A CSV sent as NDJSON by mistake, with a few lines carrying a 200 kB value.
    const rows: string[] = [];
    let bytes = 0;
    for (let i = 0; bytes < 30 * 1024 * 1024; i++) {
      const row =
        i % 100_000 === 7
          ? JSON.stringify({ type: 'purchase', eventId: `huge-${i}`, customerId: 'c', occurredAt: 'x'.repeat(200_000), amount: '1', currency: 'USD' })
          : `purchase,flood-${i},customer-${i % 1000},2024-03-01T10:00:00Z,10.50,USD`;
      rows.push(row);
      bytes += row.length + 1;
    }
    const body = `${rows.join('\n')}\n`;
    // Warm-up: the same code paths once, so what follows measures the flood, not first use.
    expect((await postNdjson(service.url, rows.slice(0, 5_000).join('\n'))).status).toBe(200);
    resetPeakMemory(service.pid);
    const before = memoryOf(service.pid).rss;
    const res = await postNdjson(service.url, body);
    const after = memoryOf(service.pid);
    const text = res.text;
    expect(res.status).toBe(200);
    const answer = JSON.parse(text) as { accepted: number; duplicates: number; rejectedCount: number; rejected: { line: number; eventId: string | null; errors: string[] }[] };
    expect([answer.accepted, answer.duplicates, answer.rejectedCount]).toEqual([0, 0, rows.length]);
    expect(answer.rejected.map((r) => r.line)).toEqual(Array.from({ length: 1_000 }, (_, i) => i + 1));
    expect(answer.rejected[7]).toEqual({ line: 8, eventId: 'huge-7', errors: [`occurredAt: must be an ISO-8601 timestamp like 2024-03-01T09:30:00Z (got "${'x'.repeat(63)}…)`] });
    expect(text.length).toBeLessThan(300_000);
    const growthMb = (after.peak - before) / 2 ** 20;
    console.log(`30 MB of invalid lines (${rows.length} lines): service RSS ${(before / 2 ** 20).toFixed(0)} MB before, peak ${(after.peak / 2 ** 20).toFixed(0)} MB, after ${(after.rss / 2 ** 20).toFixed(0)} MB`);
    expect(growthMb).toBeLessThan(150);
  });
});
