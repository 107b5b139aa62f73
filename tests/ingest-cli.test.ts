import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, runTsx, spawnTsx, waitFor } from './helpers/process.js';
import { startServiceProcess, type ServiceProcess } from './helpers/service-process.js';

// `npm run ingest -- FILE` against a real service in a child process.

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
    expect(cli.stderr()).toMatch(/connection problem \(.+\); retry 1\/8 — resent events are deduplicated by eventId/);
    const summary = cli.stdout().match(SUMMARY);
    expect(summary, cli.stderr()).not.toBeNull();
    const [events, accepted, duplicates, rejected] = summary!.slice(1, 5).map(Number);
    expect(code).toBe(0);
    expect(events).toBe(total);
    expect(rejected).toBe(0);
    expect(accepted! + duplicates!).toBe(total);
    // Whatever the killed batch had stored before the crash came back as duplicates.
    expect(await orders(service.url)).toBe(before + accepted!);
    expect(await orders(service.url)).toBe(before + total);
  });
});
