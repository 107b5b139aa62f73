import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from './helpers/service.js';

describe('service foundation', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService('t_foundation');
  });
  afterAll(async () => {
    await svc?.stop();
  });

  it('answers /healthz and /readyz once migrated', async () => {
    const h = await fetch(`${svc.url}/healthz`);
    expect(h.status).toBe(200);
    expect(await h.json()).toEqual({ status: 'ok' });
    const r = await fetch(`${svc.url}/readyz`);
    expect(r.status).toBe(200);
    expect(await r.json()).toMatchObject({ status: 'ready', storage: 'embedded', writer: { role: 'writer', detail: 'the only process serving this DATA_DIR (its lock file)' } });
  });

  it('serves GraphQL from the embedded engine', async () => {
    const r = await svc.gql('{ storageVersion }');
    expect(r.status).toBe(200);
    expect(r.data.storageVersion).toMatch(/^26\./);
  });
});
