import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TimeoutError } from '../server/storage/errors.js';
import { createLogger } from '../server/logger.js';
import { createExecutor } from '../server/service.js';
import { startTestService, testConfig, type TestService } from './helpers/service.js';

// graphql-js words it "more that"; the test does not pin its spelling.
const TOKEN_LIMIT = /^Syntax Error: Document contains more tha[nt] 5000 tokens\. Parsing aborted\.$/;

/** Sends a document and counts the statements the service ran for it: a refused document runs none. */
async function countedGql(svc: TestService, query: string) {
  let statements = 0;
  const stop = svc.exec.observe(() => statements++);
  try {
    const res = await fetch(`${svc.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query }) });
    const r = (await res.json()) as { data?: any; errors?: any[] };
    return { ...r, status: res.status, statements };
  } finally {
    stop();
  }
}

function nestedOfType(levels: number): string {
  return `{ __type(name: "Query") { fields { type { ${'ofType { '.repeat(levels)}name${' }'.repeat(levels)} } } } }`;
}

/** Each level spreads the previous fragment ten times: a few hundred tokens that armor prices in the millions. */
function fragmentBomb(levels: number): string {
  const fragments = ['fragment F0 on Query { storageVersion }'];
  for (let i = 1; i <= levels; i++) fragments.push(`fragment F${i} on Query { ${`...F${i - 1} `.repeat(10)}}`);
  return `query Costly { ...F${levels} }\n${fragments.join('\n')}`;
}

describe('GraphQL guardrails', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService('t_guardrails');
  });
  afterAll(async () => {
    await svc?.stop();
  });

  it('refuses a document nested past GRAPHQL_MAX_DEPTH', async () => {
    const r = await countedGql(svc, nestedOfType(12));
    expect(r.statements).toBe(0);
    expect(r.status).toBe(400);
    expect(r.data).toBeUndefined();
    expect(r.errors).toHaveLength(1);
    expect(r.errors![0].message).toBe('Query depth limit of 12 exceeded, found 16.');
    expect(r.errors![0].extensions.code).toBe('GRAPHQL_VALIDATION_FAILED');
  });

  it('accepts a document just within the depth limit', async () => {
    const r = await svc.gql(nestedOfType(8));
    expect(r.errors).toBeUndefined();
    expect(r.data.__type.fields[0].type).toHaveProperty('ofType');
  });

  it('refuses 50,000 fields at parse time', async () => {
    const r = await countedGql(svc, `{ ${'storageVersion '.repeat(50_000)}}`);
    expect(r.statements).toBe(0);
    expect(r.status).toBe(400);
    expect(r.errors).toHaveLength(1);
    expect(r.errors![0].message).toMatch(TOKEN_LIMIT);
    expect(r.errors![0].extensions.code).toBe('GRAPHQL_PARSE_FAILED');
  });

  it('refuses 2,000 aliases before validation runs', async () => {
    const aliases = Array.from({ length: 2000 }, (_, i) => `a${i}: storageVersion`).join(' ');
    const r = await countedGql(svc, `{ ${aliases} }`);
    expect(r.statements).toBe(0);
    expect(r.status).toBe(400);
    expect(r.errors![0].message).toMatch(TOKEN_LIMIT);
    expect(r.errors![0].extensions.code).toBe('GRAPHQL_PARSE_FAILED');
  });

  it('refuses one alias more than GRAPHQL_MAX_ALIASES', async () => {
    const aliases = (n: number) => `{ ${Array.from({ length: n }, (_, i) => `a${i}: storageVersion`).join(' ')} }`;
    const r = await countedGql(svc, aliases(31));
    expect(r.statements).toBe(0);
    expect(r.status).toBe(400);
    expect(r.errors).toEqual([
      expect.objectContaining({
        message: 'Aliases limit of 30 exceeded, found 31.',
        extensions: expect.objectContaining({ code: 'GRAPHQL_VALIDATION_FAILED' }),
      }),
    ]);
    const ok = await svc.gql(aliases(30));
    expect(ok.errors).toBeUndefined();
    expect(Object.keys(ok.data)).toHaveLength(30);
  });

  it('refuses a document whose cost exceeds GRAPHQL_MAX_COST', async () => {
    const r = await countedGql(svc, fragmentBomb(4));
    expect(r.statements).toBe(0);
    expect(r.status).toBe(400);
    const messages = r.errors!.map((e) => e.message);
    expect(messages.some((m) => /^Query Cost limit of 20000 exceeded, found \d+(\.\d+)?\.$/.test(m))).toBe(true);
    expect(r.errors!.every((e) => e.extensions.code === 'GRAPHQL_VALIDATION_FAILED')).toBe(true);
  });

  it('stamps the request id on every error', async () => {
    const res = await fetch(`${svc.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'guardrails-req-1' },
      body: JSON.stringify({ query: nestedOfType(12) }),
    });
    const body = (await res.json()) as { errors: { extensions: { requestId: string } }[] };
    expect(res.headers.get('x-request-id')).toBe('guardrails-req-1');
    expect(body.errors.map((e) => e.extensions.requestId)).toEqual(['guardrails-req-1']);
  });

  it('stops a statement at its time limit with an error that names the limit and no SQL', async () => {
    const exec = createExecutor(svc.storage, testConfig('t_guardrails', { QUERY_MAX_EXECUTION_TIME: '0.1' }), createLogger('silent'));
    const err = await exec
      .rows({ query: 'SELECT sum(cityHash64(number)) FROM numbers(100000000000)', query_params: {} }, { requestId: 'slow-1' })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(TimeoutError);
    const timeout = err as TimeoutError;
    expect(timeout.message).toBe(
      'The query ran past its time limit of 0.1 s and was stopped. Narrow the window or filter, or raise QUERY_MAX_EXECUTION_TIME.',
    );
    expect([timeout.code, timeout.requestId]).toEqual(['TIMEOUT', 'slow-1']);
  });
});

describe('GraphQL errors in production', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService('t_guardrails_prod', { NODE_ENV: 'production' });
  });
  afterAll(async () => {
    await svc?.stop();
  });

  it('answers failures without SQL or stack frames, each with its request id', async () => {
    const bodies: string[] = [
      JSON.stringify({ query: '{ storageVersion ' }),
      JSON.stringify({ query: '{ noSuchField }' }),
      JSON.stringify({ query: nestedOfType(12) }),
      JSON.stringify({ query: fragmentBomb(4) }),
      JSON.stringify({ query: `{ ${'storageVersion '.repeat(50_000)}}` }),
      JSON.stringify({ query: 'query Q($n: Int!) { storageVersion }', variables: { n: 'x' } }),
      JSON.stringify({ query: '{ storageVersion }', operationName: 'Missing' }),
      JSON.stringify({ query: 'mutation { storageVersion }' }),
      JSON.stringify({ nothing: true }),
      '{"query": ',
    ];
    for (const [i, body] of bodies.entries()) {
      const requestId = `prod-${i}`;
      const res = await fetch(`${svc.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-request-id': requestId },
        body,
      });
      const text = await res.text();
      expect(res.status, text).toBeGreaterThanOrEqual(400);
      expect(res.headers.get('x-request-id')).toBe(requestId);
      expect(text).not.toMatch(/SELECT/i);
      expect(text).not.toMatch(/\bat .*:\d+:\d+/);
      expect(text).not.toContain('stacktrace');
      const { errors } = JSON.parse(text) as { errors: { message: string; extensions: Record<string, unknown> }[] };
      expect(errors.length).toBeGreaterThan(0);
      for (const e of errors) {
        expect(typeof e.extensions.code).toBe('string');
        expect(e.extensions.requestId).toBe(requestId);
      }
    }
  });
});
