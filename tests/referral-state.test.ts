import { cpSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { referralOutcomesSql } from '../loaders/referral.sql.js';
import { Params } from '../loaders/sql.js';
import type { Executor } from '../server/storage/executor.js';
import { MIGRATIONS_DIR, migrate } from '../server/storage/migrate.js';
import { migrationSandbox } from './helpers/migrations.js';

// migrations/0011's per-referral state: referrals stored before it are backfilled, later ones
// arrive through its view, and a referral split over unmerged parts reads as one (FINAL).
// Expected rows are written out by hand from the events below.

const DATABASE = 't_referral_state';
const ctx = { requestId: 'referral-state-test' };
const STATE = 'referral_state.sql';

let exec: Executor;
let dir: string;
let close: (() => Promise<void>) | undefined;

type Row = [string, 'INVITED' | 'CLICKED' | 'SIGNED_UP', string, string | null];

/** The loader's reading of the state, as of `asOf` (no purchases here: nothing converts). */
const outcomes = (asOf: string) => {
  const p = new Params('auto');
  const sql = referralOutcomesSql(p.add("DateTime64(3, 'UTC')", asOf, 'asOf'), p.add('UInt32', 90, 'window'), 'auto');
  return exec.rows(p.sql(`SELECT referral_id, started_at, clicked, signed_up, referred, converted FROM (${sql}) ORDER BY referral_id`), ctx);
};

let n = 0;
const insert = (rows: Row[]) =>
  exec.insert(
    'referrals',
    rows.map(([referral, stage, at, referred]) => ({
      event_id: `e${++n}`,
      referral_id: referral,
      stage,
      referrer_id: 'someone',
      referred_customer_id: referred,
      occurred_at: at,
      channel: null,
    })),
    ctx,
  );

const state = () =>
  exec.rows<{ referral_id: string; started_at: string; last_at: string; clicked: number; signed_up: number; referred: { none: number; at: string; customer_id: string } }>(
    {
      query: `SELECT referral_id, started_at, last_at, clicked, signed_up, referred
              FROM {db:Identifier}.referral_state FINAL ORDER BY referral_id`,
      query_params: {},
    },
    ctx,
  );

beforeAll(async () => {
  // Every migration before the state's, so referrals can be stored before it exists.
  ({ exec, dir, close } = await migrationSandbox(DATABASE, (f) => !f.endsWith(STATE)));
  await migrate(exec, { dir });
});

afterAll(async () => {
  await close?.();
});

describe('per-referral state (migration 0011)', () => {
  it('backfills the referrals stored before it', async () => {
    await insert([
      // A: clicked before the invitation, which names no one; the sign-up names cB.
      ['A', 'INVITED', '2024-01-10 00:00:00.000', null],
      ['A', 'CLICKED', '2024-01-09 08:00:00.000', null],
      ['A', 'SIGNED_UP', '2024-01-12 00:00:00.000', 'cB'],
      // B: an invitation naming no one.
      ['B', 'INVITED', '2024-02-01 00:00:00.000', null],
    ]);
    const file = readdirSync(MIGRATIONS_DIR).find((f) => f.endsWith(STATE))!;
    cpSync(join(MIGRATIONS_DIR, file), join(dir, file));
    expect((await migrate(exec, { dir })).applied).toEqual([file]);
    expect(await state()).toEqual([
      { referral_id: 'A', started_at: '2024-01-09 08:00:00.000', last_at: '2024-01-12 00:00:00.000', clicked: 1, signed_up: 1, referred: { none: 0, at: '2024-01-12 00:00:00.000', customer_id: 'cB' } },
      { referral_id: 'B', started_at: '2024-02-01 00:00:00.000', last_at: '2024-02-01 00:00:00.000', clicked: 0, signed_up: 0, referred: { none: 1, at: '2024-02-01 00:00:00.000', customer_id: '' } },
    ]);
  });

  it('merges later events into the same referral, across parts not merged yet', async () => {
    await exec.command('SYSTEM STOP MERGES {db:Identifier}.referral_state', ctx);
    try {
      // A: an event naming cA after the one naming cB leaves cB. B: a click names cZ.
      await insert([['A', 'CLICKED', '2024-01-13 00:00:00.000', 'cA']]);
      await insert([['B', 'CLICKED', '2024-02-02 00:00:00.000', 'cZ']]);
      // C: two events at the same instant naming c2 and c1: the smaller id wins, whatever the order.
      await insert([['C', 'CLICKED', '2024-03-01 00:00:00.000', 'c2']]);
      await insert([['C', 'INVITED', '2024-03-01 00:00:00.000', 'c1']]);
      const [parts] = await exec.rows<{ n: number }>(
        { query: "SELECT count() AS n FROM {db:Identifier}.referral_state WHERE referral_id IN ('A', 'B', 'C')", query_params: {} },
        ctx,
      );
      expect(parts!.n).toBe(6);
      expect(await state()).toEqual([
        { referral_id: 'A', started_at: '2024-01-09 08:00:00.000', last_at: '2024-01-13 00:00:00.000', clicked: 1, signed_up: 1, referred: { none: 0, at: '2024-01-12 00:00:00.000', customer_id: 'cB' } },
        { referral_id: 'B', started_at: '2024-02-01 00:00:00.000', last_at: '2024-02-02 00:00:00.000', clicked: 1, signed_up: 0, referred: { none: 0, at: '2024-02-02 00:00:00.000', customer_id: 'cZ' } },
        { referral_id: 'C', started_at: '2024-03-01 00:00:00.000', last_at: '2024-03-01 00:00:00.000', clicked: 1, signed_up: 0, referred: { none: 0, at: '2024-03-01 00:00:00.000', customer_id: 'c1' } },
      ]);
      // The loader reads the same through FINAL; as of Jan 12 noon, A is regrouped from its raw
      // events up to then, and B and C had not started.
      expect(await outcomes('2025-01-01 00:00:00.000')).toEqual([
        { referral_id: 'A', started_at: '2024-01-09 08:00:00.000', clicked: 1, signed_up: 1, referred: 'cB', converted: 0 },
        { referral_id: 'B', started_at: '2024-02-01 00:00:00.000', clicked: 1, signed_up: 0, referred: 'cZ', converted: 0 },
        { referral_id: 'C', started_at: '2024-03-01 00:00:00.000', clicked: 1, signed_up: 0, referred: 'c1', converted: 0 },
      ]);
      expect(await outcomes('2024-01-12 12:00:00.000')).toEqual([
        { referral_id: 'A', started_at: '2024-01-09 08:00:00.000', clicked: 1, signed_up: 1, referred: 'cB', converted: 0 },
      ]);
    } finally {
      await exec.command('SYSTEM START MERGES {db:Identifier}.referral_state', ctx);
    }
  });
});
