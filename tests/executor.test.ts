import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
});
