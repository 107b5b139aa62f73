import { serverAudits } from 'graphql-http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from './helpers/service.js';

const MODES: { mode: string; database: string; env: Record<string, string> }[] = [
  { mode: 'development', database: 't_graphql_http', env: {} },
  { mode: 'production', database: 't_graphql_http_prod', env: { NODE_ENV: 'production' } },
];

describe.each(MODES)('GraphQL over HTTP conformance ($mode)', ({ database, env }) => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService(database, env);
  });
  afterAll(async () => {
    await svc?.stop();
  });

  // Only MUST audits are requirements. Known deviations from SHOULD/MAY: Apollo answers parse,
  // validation and coercion failures with 400 also under application/json, and CSRF prevention
  // refuses GET requests that carry no preflight header.
  const audits = serverAudits({ url: () => `${svc.url}/graphql` }).filter((a) => a.name.startsWith('MUST'));
  for (const audit of audits) {
    it(`${audit.id} ${audit.name}`, async () => {
      const result = await audit.fn();
      expect(result.status === 'ok' ? 'ok' : `${result.status}: ${result.reason}`).toBe('ok');
    });
  }
});
