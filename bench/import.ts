/**
 * `npm run bench -- import [--rows N] [--batch B]`
 *
 * A Shopify-like Orders export of N rows (default 1M: orders of 1 to 3 line items, 3% of them
 * refunded, every 50th cancelled, order fields on an order's first row only, the full 79-column
 * header) is imported with `npm run import -- shopify` into a fresh service, and the same events
 * (made once beforehand by the same mapper, written as NDJSON) are sent with `npm run ingest`
 * into another fresh service. Both CLIs run as child processes from start to exit, so the
 * times include tsx start-up, reading, parsing and sending.
 *
 * Target: import at >= 50% of ingest's rate on the same events.
 */
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { csvRecords, EventFile } from '../scripts/lib/event-files.js';
import { shopifyMapper } from '../scripts/lib/import/shopify.js';
import type { RowMapper } from '../scripts/lib/import/source.js';
import { spawnTsx } from '../scripts/lib/process.js';
import { startServiceProcess } from '../scripts/lib/service-process.js';

const HEADER = [
  'Name', 'Email', 'Financial Status', 'Paid at', 'Fulfillment Status', 'Fulfilled at', 'Accepts Marketing', 'Currency', 'Subtotal', 'Shipping', 'Taxes', 'Total',
  'Discount Code', 'Discount Amount', 'Shipping Method', 'Created at', 'Lineitem quantity', 'Lineitem name', 'Lineitem price', 'Lineitem compare at price',
  'Lineitem sku', 'Lineitem requires shipping', 'Lineitem taxable', 'Lineitem fulfillment status', 'Billing Name', 'Billing Street', 'Billing Address1',
  'Billing Address2', 'Billing Company', 'Billing City', 'Billing Zip', 'Billing Province', 'Billing Country', 'Billing Phone', 'Shipping Name', 'Shipping Street',
  'Shipping Address1', 'Shipping Address2', 'Shipping Company', 'Shipping City', 'Shipping Zip', 'Shipping Province', 'Shipping Country', 'Shipping Phone', 'Notes',
  'Note Attributes', 'Cancelled at', 'Payment Method', 'Payment Reference', 'Refunded Amount', 'Vendor', 'Outstanding Balance', 'Employee', 'Location', 'Device ID',
  'Id', 'Tags', 'Risk Level', 'Source', 'Lineitem discount', 'Tax 1 Name', 'Tax 1 Value', 'Tax 2 Name', 'Tax 2 Value', 'Tax 3 Name', 'Tax 3 Value', 'Tax 4 Name',
  'Tax 4 Value', 'Tax 5 Name', 'Tax 5 Value', 'Phone', 'Receipt Number', 'Duties', 'Billing Province Name', 'Shipping Province Name', 'Payment ID',
  'Payment Terms Name', 'Next Payment Due At', 'Payment References',
];
const COUNTRIES = ['US', 'DE', 'FR', 'GB', 'JP', 'CA'];
const KEY = 'bench-import-key-0123456789';

function parseOptions(argv: string[]) {
  const o = { rows: 1_000_000, batch: 10_000 };
  for (let i = 0; i < argv.length; i += 2) {
    const value = Number(argv[i + 1]);
    if (argv[i] === '--rows' && Number.isInteger(value) && value > 0) o.rows = value;
    else if (argv[i] === '--batch' && Number.isInteger(value) && value > 0) o.batch = value;
    else throw new Error(`unknown option or bad value ${argv[i]} ${argv[i + 1]} (--rows N, --batch B)`);
  }
  return o;
}

const at = (ms: number) => {
  const iso = new Date(ms).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)} +0000`;
};

/** N rows of a Shopify Orders export; deterministic. */
async function writeExport(path: string, rows: number): Promise<void> {
  const out = createWriteStream(path);
  const index = new Map(HEADER.map((h, i) => [h, i]));
  const put = async (line: string) => {
    if (!out.write(line)) await once(out, 'drain');
  };
  await put(`${HEADER.join(',')}\n`);
  let written = 0;
  for (let order = 0; written < rows; order++) {
    const items = 1 + (order % 3);
    const total = `${(10 + (order % 490)).toFixed(2)}`;
    const when = Date.UTC(2023, 0, 1) + order * 37_000;
    const status = order % 100 < 2 ? 'refunded' : order % 100 < 3 ? 'partially_refunded' : 'paid';
    for (let item = 0; item < items && written < rows; item++, written++) {
      const cells = new Array<string>(HEADER.length).fill('');
      const set = (h: string, v: string) => (cells[index.get(h)!] = v);
      set('Name', `#${1000 + order}`);
      set('Lineitem quantity', '1');
      set('Lineitem name', `Product ${item}`);
      set('Lineitem price', '10.00');
      set('Lineitem sku', `SKU-${item}`);
      if (item === 0) {
        set('Email', `customer${order % 200_000}@example.com`);
        set('Financial Status', status);
        set('Paid at', at(when + 60_000));
        set('Created at', at(when));
        set('Currency', 'USD');
        set('Subtotal', total);
        set('Total', total);
        set('Billing Name', 'Jane Doe');
        set('Billing Address1', '1 Main St');
        set('Billing City', 'Springfield');
        set('Billing Country', COUNTRIES[order % COUNTRIES.length]!);
        set('Payment Method', 'Shopify Payments');
        set('Refunded Amount', status === 'refunded' ? total : status === 'partially_refunded' ? '5.00' : '0.00');
        if (order % 50 === 7) set('Cancelled at', at(when + 86_400_000));
        set('Id', String(5_000_000_000 + order));
        set('Source', order % 4 === 0 ? 'pos' : 'web');
      }
      await put(`${cells.join(',')}\n`);
    }
  }
  out.end();
  await once(out, 'finish');
}

/** The events the importer makes of the export, as NDJSON: what `npm run ingest` sends. */
async function writeEquivalentNdjson(csv: string, path: string): Promise<number> {
  const out = createWriteStream(path);
  let mapper: RowMapper | undefined;
  let events = 0;
  const options = { hmacKey: KEY, zone: undefined, dateOrder: undefined, decimal: undefined };
  for await (const { cells } of csvRecords(new EventFile(csv), (h) => (mapper = shopifyMapper(csv, h, options)))) {
    const outcome = mapper!.map(cells);
    if (!('events' in outcome)) continue;
    for (const e of outcome.events) {
      events++;
      if (!out.write(`${JSON.stringify(e)}\n`)) await once(out, 'drain');
    }
  }
  out.end();
  await once(out, 'finish');
  return events;
}

async function timeCli(dataDir: string, script: string, args: string[]): Promise<{ ms: number; summary: string }> {
  const service = await startServiceProcess(dataDir);
  try {
    const started = performance.now();
    const child = spawnTsx(script, [...args, '--url', service.url], { IMPORT_HMAC_KEY: KEY });
    const { code } = await child.exited;
    const ms = performance.now() - started;
    if (code !== 0) throw new Error(`${script} exited ${code}:\n${child.stderr().slice(-2000)}`);
    return { ms, summary: child.stdout().split('\n').find((l) => l.startsWith('done:')) ?? '' };
  } finally {
    await service.stop();
  }
}

export async function main(argv: string[]): Promise<void> {
  const o = parseOptions(argv);
  const root = mkdtempSync(join(tmpdir(), 'kpi-bench-import-'));
  try {
    const csv = join(root, 'orders_export.csv');
    const ndjson = join(root, 'events.ndjson');
    await writeExport(csv, o.rows);
    const events = await writeEquivalentNdjson(csv, ndjson);
    console.log(`import bench: Shopify export of ${o.rows} rows -> ${events} events, ${o.batch}-event requests`);
    const ingest = await timeCli(join(root, 'ingest'), 'scripts/ingest.ts', [ndjson, '--batch', String(o.batch)]);
    const ingestRate = (events / ingest.ms) * 1000;
    console.log(`  ingest  NDJSON of the same events   ${Math.round(ingestRate)} events/s (${(ingest.ms / 1000).toFixed(1)} s)   ${ingest.summary}`);
    const imported = await timeCli(join(root, 'import'), 'scripts/import.ts', ['shopify', csv, '--batch', String(o.batch)]);
    const importRate = (events / imported.ms) * 1000;
    console.log(
      `  import  shopify export              ${Math.round(importRate)} events/s, ${Math.round((o.rows / imported.ms) * 1000)} rows/s (${(imported.ms / 1000).toFixed(1)} s)   ${imported.summary}`,
    );
    const ratio = importRate / ingestRate;
    console.log(`  ratio   import / ingest             ${ratio.toFixed(2)} (target >= 0.50: ${ratio >= 0.5 ? 'met' : 'NOT met'})`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
