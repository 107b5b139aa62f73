import { cpSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Executor } from '../server/storage/executor.js';
import { MIGRATIONS_DIR, migrate } from '../server/storage/migrate.js';
import { checkStates } from '../server/storage/state-check.js';
import { migrationSandbox } from './helpers/migrations.js';
import { customerActivity, kpiPairs } from './helpers/states.js';

// A store written by the schema before migration 0010 (purchases with no customer state), then
// upgraded: migration 0012 rebuilds the state from the raw purchases, so the pre-aggregated KPIs
// equal the raw ones. Later purchases reach the state through the view as before.

const DATABASE = 't_state_upgrade';
const ctx = { requestId: 'state-upgrade-test' };
const before0010 = (f: string) => Number(f.slice(0, 4)) < 10;
let exec: Executor;
let dir: string;
let close: (() => Promise<void>) | undefined;
const rows = <T>(query: string) => exec.rows<T>({ query, query_params: {} }, ctx);

let n = 0;
const purchases = (count: number, at: (i: number) => string) =>
  Array.from({ length: count }, (_, i) => ({
    event_id: `e${++n}`,
    customer_id: `c${(n * 7) % 23}`,
    occurred_at: at(i),
    amount: `${n % 97}.${String(n % 10_000).padStart(4, '0')}`,
    currency: n % 4 === 0 ? 'EUR' : 'USD',
    order_id: null,
    channel: null,
  }));

beforeAll(async () => {
  ({ exec, dir, close } = await migrationSandbox(DATABASE, before0010));
  await migrate(exec, { dir });
  await exec.insert('purchases', purchases(120, (i) => `2024-0${1 + (i % 9)}-${String(1 + (i % 28)).padStart(2, '0')} 0${i % 10}:00:00`), ctx);
});
afterAll(async () => {
  await close?.();
});

describe('upgrading a store written before the customer state', () => {
  it('rebuilds the state from the raw purchases and answers equal to the raw path', async () => {
    for (const f of readdirSync(MIGRATIONS_DIR).filter((f) => f.endsWith('.sql') && !before0010(f))) cpSync(join(MIGRATIONS_DIR, f), join(dir, f));
    const { applied } = await migrate(exec, { dir });
    expect(applied).toContain('0012_rebuild_customer_activity.sql');
    await exec.insert('purchases', purchases(30, (i) => `2024-10-${String(1 + i).padStart(2, '0')} 12:00:00`), ctx);

    const a = await customerActivity(rows, DATABASE);
    expect(Object.keys(a.raw).length).toBe(23);
    expect(a.state).toEqual(a.raw);
    expect((await checkStates(exec, ctx)).every((c) => c.ok)).toBe(true);
    for (const [name, build] of kpiPairs(new Date('2024-01-01T00:00:00Z'), new Date('2025-01-01T00:00:00Z'), new Date('2025-01-01T00:00:00Z'))) {
      const [auto, raw] = await Promise.all([exec.rows(build('auto'), ctx), exec.rows(build('raw'), ctx)]);
      expect(auto, name).toEqual(raw);
    }
  });
});
