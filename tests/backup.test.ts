import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  createKpiClient, CsatDocument, CustomerLifetimeValueDocument, KpiSnapshotDocument, NpsDocument, ReferralConversionCohortsDocument,
  RepeatPurchaseRateDocument, RetentionCohortsDocument, RetentionRateDocument,
} from '../client/index.js';
import { generateStore } from '../scripts/generate/store.js';
import { startServiceProcess, type ServiceProcess } from '../scripts/lib/service-process.js';
import type { BackupManifest } from '../server/storage/backup.js';
import { readMigrations } from '../server/storage/migrate.js';
import { runTsx, STACK_FRAME } from './helpers/process.js';

// npm run backup while a service serves the store and clients keep ingesting, npm run restore
// into an empty DATA_DIR, then a service on the restored store: every event acknowledged before
// the backup began is there, no batch is there in part, re-sent events are duplicates, and every
// contract KPI answers as on the original.

const END = '2026-11-01T00:00:00Z';
const SEED = [...generateStore({ customers: 300, purchases: 2000, surveys: 200, referrals: 100, seed: 42, end: END })];
/** Live batches are dated after the seed store, so KPIs as of END see the same events on both stores. */
const LIVE_START = Date.parse('2026-11-02T00:00:00Z');
const BATCH = 40;
/** The backup starts once this many live batches were acknowledged: both senders are busy by then. */
const BACKUP_AFTER_ACKS = 6;

/** Batch b: 25 purchases, 5 refunds of them, 4 surveys, 3 referrals, 3 profiles; every table exactly-once keeps. */
function liveBatch(b: number): object[] {
  const at = (k: number) => new Date(LIVE_START + (b * BATCH + k) * 1000).toISOString();
  const customer = (k: number) => `c-${String(1 + ((b * 25 + k) % 300)).padStart(6, '0')}`;
  const events: object[] = [];
  for (let k = 0; k < 25; k++) {
    events.push({ type: 'purchase', eventId: `lp-${b}-${k}`, customerId: customer(k), occurredAt: at(k), amount: `${10 + k}.50`, currency: 'USD', orderId: `lo-${b}-${k}` });
  }
  for (let k = 0; k < 5; k++) {
    events.push({ type: 'refund', eventId: `lrf-${b}-${k}`, customerId: customer(k), orderId: `lo-${b}-${k}`, occurredAt: at(25 + k), amount: '3.00', currency: 'USD' });
  }
  for (let k = 0; k < 4; k++) {
    events.push({ type: 'survey', eventId: `ls-${b}-${k}`, customerId: customer(k), surveyId: 'nps-live', kind: 'NPS', score: (b + k) % 11, occurredAt: at(30 + k) });
  }
  for (let k = 0; k < 3; k++) {
    events.push({ type: 'referral', eventId: `lr-${b}-${k}`, referralId: `lref-${b}-${k}`, referrerId: customer(k), channel: 'email', stage: 'INVITED', occurredAt: at(34 + k) });
  }
  for (let k = 0; k < 3; k++) {
    events.push({ type: 'customer', eventId: `lcp-${b}-${k}`, customerId: customer(k), occurredAt: at(37 + k), country: 'DE', channel: 'paid_search', segment: 'smb' });
  }
  return events;
}

interface IngestAnswer {
  accepted: number;
  duplicates: number;
  rejectedCount: number;
}

async function send(url: string, events: object[]): Promise<IngestAnswer> {
  const res = await fetch(`${url}/v1/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-ndjson' },
    body: events.map((e) => JSON.stringify(e)).join('\n'),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as IngestAnswer;
}

/** Every contract KPI of a window, as one store answers it (generatedAt is the clock's, not the store's). */
async function contractKpis(url: string, from: string, to: string, asOf: string) {
  const kpi = createKpiClient({ url: `${url}/graphql` });
  const window = { from, to, asOf };
  const { kpiSnapshot } = await kpi.request(KpiSnapshotDocument, window);
  const { generatedAt: _clock, ...snapshot } = kpiSnapshot;
  return {
    retentionCohorts: (await kpi.request(RetentionCohortsDocument, { ...window, periods: 6 })).retentionCohorts,
    retentionRate: (await kpi.request(RetentionRateDocument, window)).retentionRate,
    repeatPurchaseRate: (await kpi.request(RepeatPurchaseRateDocument, window)).repeatPurchaseRate,
    customerLifetimeValue: (await kpi.request(CustomerLifetimeValueDocument, window)).customerLifetimeValue,
    nps: (await kpi.request(NpsDocument, window)).nps,
    csat: (await kpi.request(CsatDocument, window)).csat,
    referralConversionCohorts: (await kpi.request(ReferralConversionCohortsDocument, window)).referralConversionCohorts,
    kpiSnapshot: snapshot,
  };
}

const root = mkdtempSync(join(tmpdir(), 'kpi-backup-'));
const originalDir = join(root, 'original');
const restoredDir = join(root, 'restored');
const backupDir = join(root, 'backup');
const running: ServiceProcess[] = [];
afterAll(async () => {
  for (const s of running) await s.stop();
  rmSync(root, { recursive: true, force: true });
});

describe('npm run backup and npm run restore', { timeout: 240_000 }, () => {
  it('backs up a serving store during ingest; the restored store holds every acknowledged event, whole batches, the same KPIs and exactly-once', async () => {
    const original = await startServiceProcess(originalDir);
    running.push(original);
    expect(await send(original.url, SEED)).toMatchObject({ accepted: SEED.length, duplicates: 0, rejectedCount: 0 });

    const acknowledged = new Set<number>();
    let next = 0;
    let stop = false;
    let busy!: () => void;
    const enoughAcks = new Promise<void>((resolve) => (busy = resolve));
    const sender = async () => {
      while (!stop) {
        const b = next++;
        expect(await send(original.url, liveBatch(b))).toEqual({ accepted: BATCH, duplicates: 0, rejectedCount: 0, rejected: [] });
        acknowledged.add(b);
        if (acknowledged.size === BACKUP_AFTER_ACKS) busy();
      }
    };
    const senders = [sender(), sender()];
    await enoughAcks;
    const acknowledgedBefore = new Set(acknowledged);
    const backup = await runTsx('scripts/backup.ts', [backupDir], { DATA_DIR: originalDir, LOG_LEVEL: 'silent' });
    stop = true;
    await Promise.all(senders);
    expect(backup.stderr).toBe('');
    expect(backup.code).toBe(0);
    expect(backup.stdout).toMatch(new RegExp(`^Asking the service at ${original.url}\nBackup written to ${backupDir} in [\\d.]+ s: schema level \\d+; rows: .*purchases \\d+`));
    const sent = next;
    // Ingestion went on after the backup began: the cut is not the end of the load.
    expect(sent).toBeGreaterThan(acknowledgedBefore.size);

    const restore = await runTsx('scripts/restore.ts', [backupDir], { DATA_DIR: restoredDir, LOG_LEVEL: 'silent' });
    expect(restore.stderr).toBe('');
    expect(restore.code).toBe(0);
    expect(restore.stdout).toMatch(/^Restoring .*\nRestored in [\d.]+ s; rows equal to the manifest: /);
    const restored = await startServiceProcess(restoredDir);
    running.push(restored);

    // The seed store as of END: the live batches, dated later, count in neither answer.
    expect(await contractKpis(restored.url, '2024-11-01T00:00:00Z', END, END)).toEqual(await contractKpis(original.url, '2024-11-01T00:00:00Z', END, END));

    // Re-sending tells which events the restored store holds: a batch is a duplicate whole or not at all.
    const manifest = JSON.parse(readFileSync(join(backupDir, 'manifest.json'), 'utf8')) as BackupManifest;
    let inBackup = 0;
    for (let b = 0; b < sent; b++) {
      const again = await send(restored.url, liveBatch(b));
      expect(again.accepted + again.duplicates, `batch ${b}`).toBe(BATCH);
      expect([0, BATCH], `batch ${b}`).toContain(again.duplicates);
      if (acknowledgedBefore.has(b)) expect(again.duplicates, `batch ${b}, acknowledged before the backup`).toBe(BATCH);
      if (again.duplicates === BATCH) inBackup++;
    }
    const seedPurchases = SEED.filter((e) => e.type === 'purchase').length;
    expect(manifest.tables.purchases).toBe(seedPurchases + 25 * inBackup);
    expect(await send(restored.url, SEED)).toMatchObject({ accepted: 0, duplicates: SEED.length });

    // Both stores now hold the same events: every KPI over them, live batches included, is equal.
    const later = ['2024-11-01T00:00:00Z', '2026-12-01T00:00:00Z', '2026-12-01T00:00:00Z'] as const;
    expect(await contractKpis(restored.url, ...later)).toEqual(await contractKpis(original.url, ...later));
  });

  it('refuses a DATA_DIR that is served or not empty, a backup of a newer schema, and a backup directory in use, each in one line', async () => {
    const served = await runTsx('scripts/restore.ts', [backupDir], { DATA_DIR: restoredDir, LOG_LEVEL: 'silent' });
    expect(served.code).toBe(4);
    expect(served.stderr).toMatch(new RegExp(`^A service \\(pid \\d+, http://127\\.0\\.0\\.1:\\d+\\) serves DATA_DIR ${restoredDir}: restore into an empty DATA_DIR no service uses\\.\n$`));

    const occupied = join(root, 'occupied');
    mkdirSync(occupied);
    writeFileSync(join(occupied, 'notes.txt'), 'not a store');
    const nonEmpty = await runTsx('scripts/restore.ts', [backupDir], { DATA_DIR: occupied, LOG_LEVEL: 'silent' });
    expect(nonEmpty.code).toBe(4);
    expect(nonEmpty.stderr).toBe(`DATA_DIR ${occupied} is not empty: restore into an empty or new directory.\n`);

    const level = readMigrations().at(-1)!.version;
    const future = join(root, 'future-backup');
    mkdirSync(future);
    const manifest: BackupManifest = {
      format: 1,
      createdAt: '2030-01-01T00:00:00.000Z',
      database: 'kpi',
      engineVersion: '99.1',
      schema: { level: level + 1, migrations: [...readMigrations().map((f) => f.name), `${level + 1}_add_future.sql`] },
      tables: {},
    };
    writeFileSync(join(future, 'manifest.json'), JSON.stringify(manifest));
    const empty = join(root, 'empty');
    const newer = await runTsx('scripts/restore.ts', [future], { DATA_DIR: empty, LOG_LEVEL: 'silent' });
    expect(newer.code).toBe(5);
    expect(newer.stderr).toBe(
      `The backup in ${future} has schema level ${level + 1} (${level + 1}_add_future.sql), newer than this service's ${level}: restore it with the service version that made it.\n`,
    );
    expect(newer.stderr).not.toMatch(STACK_FRAME);

    const notBackup = await runTsx('scripts/restore.ts', [occupied], { DATA_DIR: empty, LOG_LEVEL: 'silent' });
    expect(notBackup.code).toBe(2);
    expect(notBackup.stderr).toBe(`${occupied} is not a backup: it has no manifest.json (an interrupted backup has none either).\n`);

    // A damaged file (the bytes of a purchases part overwritten, its size kept): refused by the
    // parts' checksums, and the half-restored DATA_DIR is marked so no service starts on it.
    const damaged = join(root, 'damaged-backup');
    cpSync(backupDir, damaged, { recursive: true });
    const bins = readdirSync(join(damaged, 'data'), { recursive: true, encoding: 'utf8' }).filter((f) => /purchases[/\\].*[/\\]data\.bin$/.test(f));
    const target = bins.map((f) => join(damaged, 'data', f)).sort((a, b) => statSync(b).size - statSync(a).size)[0]!;
    writeFileSync(target, randomBytes(statSync(target).size));
    const into = join(root, 'from-damaged');
    const broken = await runTsx('scripts/restore.ts', [damaged], { DATA_DIR: into, LOG_LEVEL: 'silent' });
    expect(broken.code).toBe(3);
    expect(broken.stderr).toMatch(new RegExp(`^Restore into DATA_DIR ${into} failed: The backup's files are damaged: purchases part \\S+: .*A service will not start on it: empty DATA_DIR before trying again\\.\n$`));
    const start = await runTsx('server/main.ts', [], { DATA_DIR: into, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'silent' });
    expect(start.code).not.toBe(0);
    expect(start.stdout + start.stderr).toContain(`DATA_DIR ${into} holds a restore that did not finish (.restore-unfinished)`);

    // A DATA_DIR that holds no store (a typo): refused, and nothing made on either side.
    const [noStore, nowhere] = [join(root, 'no-store'), join(root, 'backup-of-nothing')];
    const nothing = await runTsx('scripts/backup.ts', [nowhere], { DATA_DIR: noStore, LOG_LEVEL: 'silent' });
    expect([nothing.code, nothing.stderr]).toEqual([2, `DATA_DIR ${noStore} holds no store: nothing to back up (check DATA_DIR).\n`]);
    expect([existsSync(noStore), existsSync(nowhere)]).toEqual([false, false]);
    // verify-state too: no store made, no stack trace; a directory the service never migrated says so.
    const unchecked = await runTsx('scripts/verify-state.ts', [], { DATA_DIR: noStore, LOG_LEVEL: 'silent' });
    expect([unchecked.code, unchecked.stderr, existsSync(noStore)]).toEqual([2, `DATA_DIR ${noStore} holds no store: nothing to check (check DATA_DIR).\n`, false]);
    const notMigrated = join(root, 'not-migrated');
    mkdirSync(notMigrated);
    writeFileSync(join(notMigrated, 'notes.txt'), 'x');
    const pending = await runTsx('scripts/verify-state.ts', [], { DATA_DIR: notMigrated, LOG_LEVEL: 'silent' });
    expect(pending.code).toBe(3);
    expect(pending.stderr).toMatch(/^\d+ migration\(s\) not applied to .*not-migrated, database kpi: run npm run migrate first\.\n$/);

    const again = await runTsx('scripts/backup.ts', [backupDir], { DATA_DIR: originalDir, LOG_LEVEL: 'silent' });
    expect(again.code).toBe(4);
    expect(again.stderr).toBe(`The backup directory ${backupDir} is not empty: name a new or empty directory.\n`);
  });

  it('asks a service with keys only with an admin key, given --url and --key', async () => {
    const admin = 'kpi_backup_test_admin_0123456789';
    const reader = 'kpi_backup_test_read_0123456789a';
    const keyed = await startServiceProcess(join(root, 'keyed'), { API_KEYS: `ops:admin:${admin},board:read:${reader}` });
    running.push(keyed);
    const target = join(root, 'keyed-backup');
    const env = { DATA_DIR: join(root, 'not-used'), LOG_LEVEL: 'silent' };
    const readOnly = await runTsx('scripts/backup.ts', [target, '--url', keyed.url, '--key', reader], env);
    expect(readOnly.code).toBe(2);
    expect(readOnly.stderr).toMatch(/^The service refused: .*"admin".* \(an admin key is needed: --key or KPI_API_KEY\)\.\n$/);
    expect(existsSync(target)).toBe(false);
    const ok = await runTsx('scripts/backup.ts', [target, '--url', keyed.url, '--key', admin], env);
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    expect((JSON.parse(readFileSync(join(target, 'manifest.json'), 'utf8')) as BackupManifest).tables).toMatchObject({ purchases: 0, customers: 0 });
  });
});
