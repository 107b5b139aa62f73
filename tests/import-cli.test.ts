import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServiceProcess, type ServiceProcess } from '../scripts/lib/service-process.js';
import { loadConfig } from '../server/config.js';
import { openStorage } from '../server/storage/client.js';
import { runTsx, STACK_FRAME } from './helpers/process.js';

// `npm run import` as a user runs it: clear refusals, the dry run's report, and imports into a
// real service (a child process on a temp DATA_DIR) checked against stored rows counted by hand.

const KEY = { IMPORT_HMAC_KEY: 'test-import-key-0123456789' };
const FIXTURES = 'tests/fixtures/import';
const dir = mkdtempSync(join(tmpdir(), 'kpi-import-cli-'));
let service: ServiceProcess | undefined;

afterAll(async () => {
  await service?.kill();
  rmSync(dir, { recursive: true, force: true });
});

const SUMMARY = /^done: (\d+) events in [\d.]+ s \(\d+\/s\): accepted (\d+), duplicates (\d+), rejected (\d+)/m;

describe('npm run import: refusals and dry run (no service)', { timeout: 60_000 }, () => {
  it('refuses an unknown source, a missing hash key, bad --map syntax and csv options on a fixed-format source, with exit 2 and no stack trace', async () => {
    const cases: [string[], Record<string, string>, RegExp][] = [
      [['woo', `${FIXTURES}/shopify-orders.csv`], KEY, /^Unknown source "woo": use shopify, stripe, csv\.$/m],
      [['shopify', `${FIXTURES}/shopify-orders.csv`, '--dry-run'], {}, /import failed: IMPORT_HMAC_KEY is not set: this export names customers by e-mail address \(column "Email"\)/],
      [['csv', `${FIXTURES}/warehouse.csv`, '--type', 'purchase', '--map', 'occurredAt'], KEY, /import failed: --map: cannot read "occurredAt": write field=Column pairs/],
      [['shopify', `${FIXTURES}/shopify-orders.csv`, '--map', 'amount=Total'], KEY, /^--map applies to the csv source \(shopify exports have fixed columns\)\.$/m],
      [['stripe', `${FIXTURES}/shopify-orders.csv`, '--dry-run'], KEY, /import failed: .*shopify-orders\.csv: not a Stripe Payments export: the header has no "id", "Created \(UTC\)", "Amount", "Status" columns \(columns: Name, Email, Financial Status,/],
    ];
    for (const [args, env, message] of cases) {
      const r = await runTsx('scripts/import.ts', args, env);
      expect([args, r.code]).toEqual([args, 2]);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(STACK_FRAME);
    }
  });

  it('refuses a CSV it cannot parse or that is not UTF-8 with exit 2, naming the file and the line, also in a dry run', async () => {
    const { writeFileSync } = await import('node:fs');
    const text = readFileSync(`${FIXTURES}/shopify-orders.csv`, 'utf8');
    // A stray quote inside an unquoted cell (a product called Monitor 27" wide) on the file's line 3.
    const lines = text.split('\n');
    lines[2] = lines[2]!.replace(/,([^,"]*),/, ',Monitor 27" wide,');
    const quoted = join(dir, 'stray-quote.csv');
    writeFileSync(quoted, lines.join('\n'));
    // Windows-1252 bytes on line 4: "M\xfcller" would have been read as "M\uFFFDller".
    const latin1 = join(dir, 'latin1.csv');
    writeFileSync(latin1, Buffer.concat([Buffer.from(`${text.split('\n').slice(0, 3).join('\n')}\n`), Buffer.from('#9999,m\xfcller@example.com,paid\n', 'latin1')]));
    const escape = (path: string) => path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    for (const [file, message] of [
      [quoted, new RegExp(`import failed: ${escape(quoted)} line 3 is not CSV this tool can read: `)],
      [latin1, new RegExp(`import failed: ${escape(latin1)} line 4 is not UTF-8 text: save the file as UTF-8`)],
    ] as const) {
      const r = await runTsx('scripts/import.ts', ['shopify', file, '--dry-run'], KEY);
      expect([file, r.code]).toEqual([file, 2]);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(STACK_FRAME);
    }
    const ingest = await runTsx('scripts/ingest.ts', [latin1, '--format', 'csv', '--url', 'http://127.0.0.1:9']);
    expect(ingest.code).toBe(2);
    expect(ingest.stderr).toMatch(/line 4 is not UTF-8 text/);
  });

  it('sends no event with an e-mail address in any field: such an event is rejected, the address never shown', async () => {
    const { writeFileSync } = await import('node:fs');
    const { parse } = await import('csv-parse/sync');
    const rows = parse(readFileSync(`${FIXTURES}/shopify-orders.csv`)) as string[][];
    const header = rows[0]!;
    // The first order's Source (the channel of its purchase and profile) holds an address.
    rows[1]![header.indexOf('Source')] = 'leak6@example.com';
    const quote = (v: string) => (/[",\r\n]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v);
    const file = join(dir, 'leak.csv');
    writeFileSync(file, rows.map((r) => r.map(quote).join(',')).join('\n'));
    const r = await runTsx('scripts/import.ts', ['shopify', file, '--dry-run'], KEY);
    const reason = 'channel: holds an e-mail address; not sent (the value is not shown: it may be personal data)';
    expect(r.stdout).toContain(`  line 3 (shopify:order:5580001001): ${reason}`);
    expect(r.stdout).toContain(`  line 3 (shopify:customer:5580001001): ${reason}`);
    expect(`${r.stdout}${r.stderr}`).not.toMatch(/leak6|example\.(com|net|org)/i);
  });

  it('prints counts per type, the date range, currencies, skipped and rejected rows, and sends nothing', async () => {
    // --url points nowhere: a dry run must not need a service
    const r = await runTsx('scripts/import.ts', ['shopify', `${FIXTURES}/shopify-orders.csv`, '--dry-run', '--url', 'http://127.0.0.1:9'], KEY);
    expect(r.stdout.trimEnd().split('\n')).toEqual([
      `dry run of shopify export ${FIXTURES}/shopify-orders.csv: nothing sent`,
      'rows: 13 (10 orders, 3 further line-item rows)',
      'events: 13 (purchase 5, customer 5, refund 3)',
      'dates: 2024-03-01T14:31:12.000Z to 2024-04-01T23:00:00.000Z',
      'currencies (purchase and refund events): 8 (EUR 1, USD 6, JPY 1)',
      'skipped: 4 rows',
      '  financial status voided: 1 (line 9)',
      '  test order (Bogus Gateway): 1 (line 10)',
      '  financial status pending: 1 (line 11)',
      '  no customer e-mail (guest or POS order): 1 (line 12)',
      'rejected: 1',
      '  line 14 (shopify:order:5580001009): Created at: not a date and time: "yesterday"',
    ]);
    expect(r.code).toBe(1);
    expect(`${r.stdout}${r.stderr}`).not.toMatch(/example\.(com|net|org)/i);
  });

  it('reads a WooCommerce export through --map with --tz, --date-order and --statuses, and a warehouse extract through a YAML --map-file', async () => {
    const woo = await runTsx(
      'scripts/import.ts',
      [
        'csv', `${FIXTURES}/woocommerce-orders.csv`, '--dry-run', '--type', 'purchase', '--tz', '+01:00', '--date-order', 'dmy', '--statuses', 'completed,processing',
        '--map', 'orderId="Order Number",occurredAt="Order Date",email=Billing Email', '--map', 'amount=Order Total,currency=Order Currency,status=Order Status',
      ],
      KEY,
    );
    // 01/03/2024 09:30 at +01:00 is 08:30Z; the latest is 2024-04-03T10:00:00+02:00
    expect(woo.stdout).toContain('events: 4 (purchase 4)\ndates: 2024-03-01T08:30:00.000Z to 2024-04-03T08:00:00.000Z\ncurrencies (purchase and refund events): 4 (EUR 2, USD 2)');
    expect(woo.stdout).toContain('skipped: 2 rows\n  status failed: 1 (line 4)\n  status cancelled: 1 (line 5)\nrejected: 1\n  line 8 (csv:purchase:2007): Billing Email: is empty');
    const warehouse = await runTsx('scripts/import.ts', ['csv', `${FIXTURES}/warehouse.csv`, '--dry-run', '--map-file', `${FIXTURES}/warehouse-map.yaml`]);
    expect(warehouse.stdout).toContain('events: 4 (purchase 2, refund 1, customer 1)');
    expect(warehouse.stdout).toContain('rejected: 1\n  line 6: kind: must be one of purchase, refund, customer (got "return")');
  });
});

describe('npm run import into a running service', { timeout: 90_000 }, () => {
  beforeAll(async () => {
    service = await startServiceProcess(join(dir, 'data'));
  });

  /** Stored rows per table and currency, read with the engine itself once the service has stopped. */
  async function stored() {
    await service!.stop();
    service = undefined;
    const storage = await openStorage(loadConfig({ DATA_DIR: join(dir, 'data') }));
    try {
      const read = async (query: string) => (await storage.client.query({ query, format: 'JSONEachRow' })).json<Record<string, string | number>>();
      const money = async (table: string) =>
        (await read(`SELECT currency, count() AS n, toString(sum(amount)) AS total FROM ${storage.database}.${table} GROUP BY currency ORDER BY currency`)).map((r) => [
          r.currency,
          Number(r.n),
          Number(r.total),
        ]);
      const ids = await read(
        `SELECT customer_id FROM ${storage.database}.purchases UNION ALL SELECT customer_id FROM ${storage.database}.refunds UNION ALL SELECT customer_id FROM ${storage.database}.customers`,
      );
      const customers = await read(`SELECT count() AS n FROM ${storage.database}.customers`);
      return { purchases: await money('purchases'), refunds: await money('refunds'), customers: Number(customers[0]!.n), ids: ids.map((r) => String(r.customer_id)) };
    } finally {
      await storage.close();
    }
  }

  it('stores a Shopify and a Stripe export once however often they are imported, and the stored events match a hand count', async () => {
    const shopify = join(dir, 'orders_export_1.csv');
    const stripe = join(dir, 'unified_payments.csv');
    copyFileSync(`${FIXTURES}/shopify-orders.csv`, shopify);
    copyFileSync(`${FIXTURES}/stripe-payments.csv`, stripe);
    const args = ['--url', service!.url];

    const first = await runTsx('scripts/import.ts', ['shopify', shopify, ...args], KEY);
    // 13 events and 1 row the importer rejected (line 14)
    expect(first.stdout.match(SUMMARY)?.slice(1)).toEqual(['14', '13', '0', '1']);
    expect(first.code).toBe(1);
    expect(first.stdout).toContain('skipped: 4 rows');
    const side = readFileSync(`${shopify}.rejected.ndjson`, 'utf8');
    expect(side.trimEnd().split('\n').map((l) => JSON.parse(l) as unknown)).toEqual([
      { line: 14, eventId: 'shopify:order:5580001009', errors: ['Created at: not a date and time: "yesterday"'] },
    ]);

    const again = await runTsx('scripts/import.ts', ['shopify', shopify, ...args], KEY);
    expect(again.stdout.match(SUMMARY)?.slice(1)).toEqual(['14', '0', '13', '1']);

    const payments = await runTsx('scripts/import.ts', ['stripe', stripe, ...args, '--batch', '2'], KEY);
    expect(payments.stdout.match(SUMMARY)?.slice(1)).toEqual(['8', '7', '0', '1']);
    const paymentsAgain = await runTsx('scripts/import.ts', ['stripe', stripe, ...args], KEY);
    expect(paymentsAgain.stdout.match(SUMMARY)?.slice(1)).toEqual(['8', '0', '7', '1']);
    for (const r of [first, again, payments, paymentsAgain]) expect(`${r.stdout}${r.stderr}`).not.toMatch(/example\.(com|net|org)/i);
    expect(readFileSync(`${stripe}.rejected.ndjson`, 'utf8')).not.toContain('@');

    // By hand from the fixtures. Purchases: EUR #1001 53.91 + ch_3OaA02 1234.50; JPY #1008
    // 1500 + ch_3OaA03 1000; USD #1002 120 + #1003 80 + #1010 19.99 + ch_3OaA01 25 + ch_3OaA07
    // 15.50. Refunds: EUR ch_3OaA02 234.50; JPY ch_3OaA03 1000; USD #1002 20 + #1003 80 (its
    // cancellation) + #1010 19.99 + ch_3OaA07 5. Profiles: #1001, #1002, #1003, #1008, #1010.
    // Section 12 on the imported store, by hand: USD orders #1002, ch_3OaA01, ch_3OaA07 (#1003,
    // #1010 cancelled); revenue 120 + 25 + 15.50 - 20 - 5 = 135.50, refunds 25. Every currency:
    // 6 orders (with EUR #1001, ch_3OaA02 and JPY #1008; ch_3OaA03 cancelled), 3 cancelled.
    const kpis = await fetch(`${service!.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ kpiSnapshot(from: "2020-01-01T00:00:00Z", to: "2030-01-01T00:00:00Z", currency: "USD") { orders customers revenue refundAmount cancelledOrders } }' }),
    });
    expect(((await kpis.json()) as { data: unknown }).data).toEqual({ kpiSnapshot: { orders: 6, customers: 5, revenue: 135.5, refundAmount: 25, cancelledOrders: 3 } });
    const s = await stored();
    expect(s.purchases).toEqual([
      ['EUR', 2, 1288.41],
      ['JPY', 2, 2500],
      ['USD', 5, 260.49],
    ]);
    expect(s.refunds).toEqual([
      ['EUR', 1, 234.5],
      ['JPY', 1, 1000],
      ['USD', 4, 124.99],
    ]);
    expect(s.customers).toBe(5);
    // only hashed addresses and the payment system's own ids reach the store
    for (const id of s.ids) expect(id).toMatch(/^(em_[0-9a-f]{32}|cus_PQa[12])$/);
  });
});
