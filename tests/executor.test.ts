import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Executor } from '../server/storage/executor.js';
import { startTestService, type TestService } from './helpers/service.js';

// The embedded engine keeps SETs for the rest of its session; the executor sends only the
// settings that changed, so a statement's one-off setting must not leak into later ones.
describe('Executor settings', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService('t_executor');
  });
  afterAll(async () => {
    await svc?.stop();
  });

  const setting = async (name: string) =>
    (await svc.exec.rows<{ value: string }>({ query: 'SELECT value FROM system.settings WHERE name = {name:String}', query_params: { name } }, { requestId: 't' }))[0]!.value;

  it('puts a one-off setting back for the next statement that does not ask for it', async () => {
    const before = await setting('optimize_aggregation_in_order');
    const during = await svc.exec.rows<{ value: string }>(
      { query: "SELECT value FROM system.settings WHERE name = 'optimize_aggregation_in_order'", query_params: {} },
      { requestId: 't' },
      { optimize_aggregation_in_order: before === '1' ? 0 : 1 },
    );
    expect(during[0]!.value).toBe(before === '1' ? '0' : '1');
    expect(await setting('optimize_aggregation_in_order')).toBe(before);
  });

  it('puts back a string setting an insert used once', async () => {
    const before = await setting('date_time_input_format');
    await svc.exec.command('CREATE TABLE IF NOT EXISTS {db:Identifier}.t_settings (t DateTime) ENGINE = Memory', { requestId: 't' });
    await svc.exec.insert('t_settings', [{ t: '2024-03-01T09:30:00+02:00' }], { requestId: 't' }, { date_time_input_format: 'best_effort' });
    expect(await setting('date_time_input_format')).toBe(before);
  });

  // chDB runs parameterized statements one at a time per process: the executor queues them.
  it('runs waiting statements in arrival order, an urgent one first, and drops one whose request was aborted while it waited', async () => {
    const done: string[] = [];
    const read = (name: string, ctx: { requestId: string; urgent?: boolean; signal?: AbortSignal } = { requestId: name }) =>
      svc.exec.rows({ query: 'SELECT {n:String} AS n', query_params: { n: name } }, ctx).then(
        () => done.push(name),
        (e: Error) => done.push(`${name}: ${e.name}`),
      );
    const gone = new AbortController();
    // Issued in one go (each call queues synchronously): 'first' takes the engine, the others
    // wait behind it; 'aborted' is then aborted while it waits. Were it left in the queue, the
    // turn would pass to it and nothing after it would run.
    const all = [read('first'), read('aborted', { requestId: 'x', signal: gone.signal }), read('b'), read('c'), read('urgent', { requestId: 'u', urgent: true })];
    gone.abort();
    await Promise.all(all);
    expect(done).toContain('aborted: AbortError');
    expect(done.filter((d) => !d.startsWith('aborted'))).toEqual(['first', 'urgent', 'b', 'c']);
  });

  it('stores an urgent insert (the ingest path) beside a running read instead of after it', async () => {
    await svc.exec.command('CREATE TABLE IF NOT EXISTS {db:Identifier}.t_lanes (x UInt8) ENGINE = Memory', { requestId: 't' });
    const done: string[] = [];
    // The read holds the main session for 3 s; queued behind it, the insert would end after it.
    const slow = svc.exec.rows({ query: 'SELECT sleep(3) AS s', query_params: {} }, { requestId: 'slow' }).then(() => done.push('slow read'));
    const insert = svc.exec.insert('t_lanes', [{ x: 1 }], { requestId: 'ingest', urgent: true }).then(() => done.push('urgent insert'));
    await Promise.all([slow, insert]);
    expect(done).toEqual(['urgent insert', 'slow read']);
  });

  it('reads lists of values (the eventId look-up) beside a running read: rows of a temporary table, no parameters, no value in the SQL', async () => {
    const ctx = { requestId: 'lookup', urgent: true };
    const odd = "b'); DROP TABLE x; --";
    await svc.exec.command('CREATE TABLE IF NOT EXISTS {db:Identifier}.t_ids (id String) ENGINE = Memory', ctx);
    await svc.exec.insert('t_ids', [{ id: 'a' }, { id: odd }, { id: 'c' }], ctx);
    const texts: string[] = [];
    const unobserve = svc.exec.observe(({ query }) => texts.push(query));
    const done: string[] = [];
    const slow = svc.exec.rows({ query: 'SELECT sleep(3) AS s', query_params: {} }, { requestId: 'slow' }).then(() => done.push('slow read'));
    const found = svc.exec
      .rowsWithLists<{ l: number; id: string }>(
        [[odd, 'x'], ['c', 'a', 'a']],
        (list) => `SELECT * FROM (SELECT 0 AS l, id FROM {db:Identifier}.t_ids WHERE id IN ${list(0)} UNION ALL SELECT 1, id FROM {db:Identifier}.t_ids WHERE id IN ${list(1)}) ORDER BY l, id`,
        ctx,
      )
      .then((rows) => {
        done.push('lookup');
        return rows;
      });
    expect(await found).toEqual([
      { l: 0, id: odd },
      { l: 1, id: 'a' },
      { l: 1, id: 'c' },
    ]);
    await slow;
    unobserve();
    expect(done).toEqual(['lookup', 'slow read']);
    expect(texts.filter((t) => t.includes('DROP TABLE x'))).toEqual([]);
    // The table went with the look-up: the session holds no temporary table.
    const left = await svc.exec.rows<{ n: number }>({ query: "SELECT count() AS n FROM system.tables WHERE is_temporary AND startsWith(name, 'kpi_lists_')", query_params: {} }, ctx);
    expect(left).toEqual([{ n: 0 }]);
  });

  it("looks a one-off setting up once per session, not before every insert, even one the engine does not list", async () => {
    // The look-up has parameters: chDB chains it behind the statement running, so before every
    // insert it held each acknowledgement for the KPI read of the moment. `wait_end_of_query`, which
    // every insert sets, is not in system.settings (chDB's adapter drops it as HTTP-only).
    const texts: string[] = [];
    const counting = new Proxy(svc.exec.storage.ingestClient, {
      get(target, prop) {
        if (prop !== 'query') return Reflect.get(target, prop, target);
        return (params: Parameters<typeof target.query>[0]) => {
          texts.push(params.query);
          return target.query(params);
        };
      },
    });
    const exec = new Executor({ ...svc.exec.storage, ingestClient: counting }, { maxExecutionTimeS: 10, maxMemoryBytes: 1e9 }, pino({ level: 'silent' }));
    await exec.command('CREATE TABLE IF NOT EXISTS {db:Identifier}.t_once (x UInt8) ENGINE = Memory', { requestId: 't', urgent: true });
    for (let i = 0; i < 3; i++) await exec.insert('t_once', [{ x: i }], { requestId: 't', urgent: true });
    expect(texts.filter((t) => t.includes('system.settings'))).toHaveLength(1);
  });
});
