import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NO_HOSTS, parseAllowedHosts, urlProblem } from '../server/notifications/allowed-hosts.js';
import { attempt, nextAttempt } from '../server/notifications/delivery.js';
import type { Delivery } from '../server/notifications/outbox.js';
import type { SigningWebhook } from '../server/notifications/webhooks.js';
import { EventWriter } from '../server/ingest/writer.js';
import { FakeClock } from './helpers/fake-clock.js';
import { startTestService, type TestService } from './helpers/service.js';

const DATABASE = 't_webhooks';

/** The verification snippet of docs/webhooks.md, as a receiver would write it (the time passed in: the test's clock is fake). */
function verify(secret: string, headers: IncomingHttpHeaders, rawBody: string, nowS = Date.now() / 1000): boolean {
  const timestamp = String(headers['x-webhook-timestamp']);
  const expected = 'sha256=' + createHmac('sha256', secret).update(`${timestamp}.${rawBody}`).digest('hex');
  const given = Buffer.from(String(headers['x-signature'] ?? ''));
  const fresh = Math.abs(nowS - Number(timestamp)) <= 300; // refuse replays older than 5 minutes
  return fresh && given.length === expected.length && timingSafeEqual(given, Buffer.from(expected));
}

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

/** A loopback receiver that answers each request with what `answer` says for its number (0-based). */
async function receiver(answer: (n: number) => { status: number; body?: string; headers?: Record<string, string> } = () => ({ status: 200 }), port = 0) {
  const requests: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const a = answer(requests.length);
      requests.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(a.status, a.headers ?? {});
      res.end(a.body ?? '');
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const bound = (server.address() as AddressInfo).port;
  return { requests, port: bound, url: `http://127.0.0.1:${bound}/hook`, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

const CREATE = `mutation($url: String!, $events: [String!]!, $format: WebhookFormat) {
  createWebhook(url: $url, events: $events, format: $format) { id secret url events format }
}`;
const DELIVERIES = `query($id: ID!) {
  webhookDeliveries(webhookId: $id) { edges { node { id event status attempts lastStatusCode lastError nextAttemptAt responseBody } } pageInfo { hasNextPage } }
}`;
const SURVEYS = `mutation($events: [SurveyResponseInput!]!) { ingestSurveyResponses(events: $events) { accepted duplicates } }`;
const SNAPSHOT = `mutation { takeSnapshot(name: "webhook-test", from: "2024-01-01T00:00:00Z", to: "2024-02-01T00:00:00Z", asOf: "2024-02-01T00:00:00Z") { id name } }`;

describe('webhooks', () => {
  const T0 = Date.parse('2024-05-01T12:00:00Z');
  let clock: FakeClock;
  let svc: TestService;
  const receivers: Awaited<ReturnType<typeof receiver>>[] = [];
  let ok: Awaited<ReturnType<typeof receiver>>;
  let flaky: Awaited<ReturnType<typeof receiver>>;
  let offList: Awaited<ReturnType<typeof receiver>>;
  let redirecting: Awaited<ReturnType<typeof receiver>>;
  let failing: Awaited<ReturnType<typeof receiver>>;
  let env: Record<string, string>;

  const create = async (url: string, events: string[], format = 'JSON') => {
    const r = await svc.gql(CREATE, { url, events, format });
    expect(r.errors).toBeUndefined();
    return r.data.createWebhook as { id: string; secret: string };
  };
  const remove = async (id: string) => expect((await svc.gql('mutation($id: ID!) { deleteWebhook(id: $id) }', { id })).data.deleteWebhook).toBe(true);
  const log = async (id: string) => (await svc.gql(DELIVERIES, { id })).data.webhookDeliveries.edges.map((e: { node: unknown }) => e.node);
  const at = (ms: number) => {
    clock.set(new Date(ms).toISOString());
  };

  beforeAll(async () => {
    ok = await receiver();
    // Fails twice (with a long body, to see it cut at 1 KB), then answers 200.
    flaky = await receiver((n) => (n < 2 ? { status: 503, body: 'x'.repeat(3000) } : { status: 200, body: 'thanks' }));
    offList = await receiver();
    redirecting = await receiver(() => ({ status: 302, headers: { location: offList.url } }));
    failing = await receiver(() => ({ status: 500 }));
    receivers.push(ok, flaky, offList, redirecting, failing);
    env = { WEBHOOK_ALLOWED_HOSTS: [ok, flaky, redirecting, failing].map((r) => `127.0.0.1:${r.port}`).join(','), ERASURE_HMAC_KEY: 'webhooks-test-erasure-key' };
    clock = new FakeClock(T0);
    svc = await startTestService(DATABASE, env, () => clock.now(), clock);
  });

  afterAll(async () => {
    await svc?.stop();
    for (const r of receivers) await r.close();
  });

  it('refuses unknown events, other schemes and hosts off WEBHOOK_ALLOWED_HOSTS, naming the value', async () => {
    const bad = await svc.gql(CREATE, { url: ok.url, events: ['survey.detractor', 'alert.fire'] });
    expect(bad.errors[0].message).toBe('"events": "alert.fire" is not an event; the events are alert.firing, alert.resolved, snapshot.taken, survey.detractor, customer.at_risk');
    expect(bad.errors[0].extensions.code).toBe('BAD_USER_INPUT');
    const off = await svc.gql(CREATE, { url: offList.url, events: ['snapshot.taken'] });
    expect(off.errors[0].message).toBe(`"url": host "127.0.0.1:${offList.port}" is not in WEBHOOK_ALLOWED_HOSTS (${env.WEBHOOK_ALLOWED_HOSTS!.split(',').join(', ')})`);
    expect((await svc.gql(CREATE, { url: 'ftp://127.0.0.1/x', events: ['snapshot.taken'] })).errors[0].message).toBe('"url": "ftp://127.0.0.1/x" is not an http(s) URL');
    expect(urlProblem('https://hooks.example.com/x', NO_HOSTS)).toBe('no webhook target is allowed: WEBHOOK_ALLOWED_HOSTS is empty (README, "Webhooks")');
    expect(urlProblem('https://Hooks.Example.com:8443/x', parseAllowedHosts('hooks.example.com'))).toBeUndefined();
    expect(urlProblem('https://hooks.example.com/x', parseAllowedHosts('hooks.example.com:8443'))).toBe('host "hooks.example.com" is not in WEBHOOK_ALLOWED_HOSTS (hooks.example.com:8443)');
    expect((await svc.gql('{ webhooks { id } }')).data.webhooks).toEqual([]);
  });

  it('retries 30 s after the first attempt, doubling, and gives up after the attempt 24 h after the event', () => {
    const created = new Date(T0);
    const after = (attempts: number, elapsedMs: number) => nextAttempt(created, attempts, new Date(T0 + elapsedMs))?.getTime();
    expect(after(1, 0)).toBe(T0 + 30_000);
    expect(after(2, 30_000)).toBe(T0 + 90_000);
    expect(after(3, 90_000)).toBe(T0 + 210_000);
    // Attempt 12 at 30 s × (2^11 − 1) = 61 410 s would wait 30 s × 2^11 = 61 440 s: capped at 24 h.
    expect(after(12, 61_410_000)).toBe(T0 + 86_400_000);
    expect(after(13, 86_400_000)).toBeUndefined();
  });

  it('sends a signed survey.detractor for each newly stored NPS 0-6 or CSAT 1-2 response, none for a duplicate', async () => {
    const hook = await create(ok.url, ['survey.detractor']);
    expect(hook.secret).toMatch(/^[0-9a-f]{64}$/);
    const events = [
      { eventId: 's1', customerId: 'c1', surveyId: 'q2', kind: 'NPS', score: 3, occurredAt: '2024-04-30T08:00:00+02:00', comment: 'too slow' },
      { eventId: 's2', customerId: 'c2', surveyId: 'q2', kind: 'NPS', score: 9, occurredAt: '2024-04-30T09:00:00Z' },
      { eventId: 's3', customerId: 'c3', surveyId: 'support', kind: 'CSAT', score: 2, occurredAt: '2024-04-30T10:00:00Z' },
      { eventId: 's4', customerId: 'c4', surveyId: 'support', kind: 'CSAT', score: 3, occurredAt: '2024-04-30T10:00:00Z' },
    ];
    expect((await svc.gql(SURVEYS, { events })).data.ingestSurveyResponses).toEqual({ accepted: 4, duplicates: 0 });
    await svc.webhooksIdle();
    expect(ok.requests).toHaveLength(2);
    const bodies = ok.requests.map((r) => JSON.parse(r.body)).sort((a, b) => a.data.customerId.localeCompare(b.data.customerId));
    expect(bodies.map((b) => b.data)).toEqual([
      { customerId: 'c1', surveyId: 'q2', kind: 'NPS', score: 3, comment: 'too slow', occurredAt: '2024-04-30T06:00:00.000Z', eventId: 's1' },
      { customerId: 'c3', surveyId: 'support', kind: 'CSAT', score: 2, comment: null, occurredAt: '2024-04-30T10:00:00.000Z', eventId: 's3' },
    ]);
    for (const r of ok.requests) {
      const body = JSON.parse(r.body);
      expect(verify(hook.secret, r.headers, r.body, T0 / 1000)).toBe(true);
      expect(verify(hook.secret, r.headers, r.body.replace('"score":', '"score": '), T0 / 1000)).toBe(false);
      expect(verify('another secret', r.headers, r.body, T0 / 1000)).toBe(false);
      expect(r.headers['x-webhook-timestamp']).toBe(String(T0 / 1000));
      expect(r.headers['idempotency-key']).toBe(body.id);
      expect(r.headers['x-webhook-event']).toBe('survey.detractor');
      expect(body).toMatchObject({ event: 'survey.detractor', createdAt: new Date(T0).toISOString() });
    }
    // The same eventId again is a duplicate: stored once, notified once.
    expect((await svc.gql(SURVEYS, { events: [events[0]] })).data.ingestSurveyResponses).toEqual({ accepted: 0, duplicates: 1 });
    await svc.webhooksIdle();
    expect(ok.requests).toHaveLength(2);
    const delivered = await log(hook.id);
    expect(delivered.map((d: { status: string; attempts: number; lastStatusCode: number }) => [d.status, d.attempts, d.lastStatusCode])).toEqual([
      ['DELIVERED', 1, 200],
      ['DELIVERED', 1, 200],
    ]);
    // Pages, newest first: the two came in one group, so by id within the same createdAt.
    const page = async (after: string | null) =>
      (await svc.gql('query($id: ID!, $after: String) { webhookDeliveries(webhookId: $id, first: 1, after: $after) { edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }', { id: hook.id, after }))
        .data.webhookDeliveries;
    const ids = bodies.map((b) => b.id as string).sort().reverse();
    const p1 = await page(null);
    expect([p1.edges.map((e: { node: { id: string } }) => e.node.id), p1.pageInfo.hasNextPage]).toEqual([[ids[0]], true]);
    const p2 = await page(p1.pageInfo.endCursor);
    expect([p2.edges.map((e: { node: { id: string } }) => e.node.id), p2.pageInfo.hasNextPage]).toEqual([[ids[1]], false]);
    // A cursor that names none of its deliveries is refused, not read as the end of the log.
    const bad = await svc.gql('query($id: ID!) { webhookDeliveries(webhookId: $id, after: "garbage") { edges { cursor } } }', { id: hook.id });
    expect(bad.errors[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'after' });
    await remove(hook.id);
  });

  it('stores and acknowledges the events when the outbox write fails, and says so', async () => {
    const failures: unknown[] = [];
    const broken = async () => {
      throw new Error('outbox down');
    };
    const writer = new EventWriter(svc.exec, { notifier: { publish: broken, publishAll: broken, published: broken }, onNotifyError: (e) => failures.push(e) });
    const row = { event_id: 'lost-note', customer_id: 'c7', survey_id: 'q2', kind: 'NPS' as const, score: 2, occurred_at: '2024-04-30 09:00:00.000', comment: null };
    const result = await writer.write([{ type: 'survey', row }], { requestId: 'outbox-down' });
    expect(result.accepted).toBe(1);
    expect(failures.map((e) => (e as Error).message)).toEqual(['outbox down']);
    const stored = await svc.exec.rows<{ n: number }>({ query: "SELECT count() AS n FROM {db:Identifier}.survey_responses WHERE event_id = 'lost-note'", query_params: {} }, { requestId: 't' });
    expect(stored[0]!.n).toBe(1);
  });

  it('retries a failing receiver on the clock with the same idempotency key, and logs each outcome (bodies cut at 1 KB)', async () => {
    const hook = await create(flaky.url, ['snapshot.taken']);
    const snapshot = (await svc.gql(SNAPSHOT)).data.takeSnapshot;
    await svc.webhooksIdle();
    expect(flaky.requests).toHaveLength(1);
    const [first] = await log(hook.id);
    expect(first).toEqual({
      id: flaky.requests[0]!.headers['idempotency-key'],
      event: 'snapshot.taken',
      status: 'PENDING',
      attempts: 1,
      lastStatusCode: 503,
      lastError: 'answered HTTP 503',
      nextAttemptAt: new Date(T0 + 30_000).toISOString(),
      responseBody: 'x'.repeat(1024),
    });
    const body = JSON.parse(flaky.requests[0]!.body);
    expect(body.data).toMatchObject({ id: snapshot.id, name: 'webhook-test', from: '2024-01-01T00:00:00.000Z', to: '2024-02-01T00:00:00.000Z', customers: 0, orders: 0, revenue: 0 });

    at(T0 + 29_999);
    await svc.webhooksIdle();
    expect(flaky.requests).toHaveLength(1);
    at(T0 + 30_000);
    await svc.webhooksIdle();
    expect(flaky.requests).toHaveLength(2);
    expect((await log(hook.id))[0]).toMatchObject({ status: 'PENDING', attempts: 2, nextAttemptAt: new Date(T0 + 90_000).toISOString() });
    at(T0 + 90_000);
    await svc.webhooksIdle();
    expect(flaky.requests).toHaveLength(3);
    expect((await log(hook.id))[0]).toEqual({ ...first, status: 'DELIVERED', attempts: 3, lastStatusCode: 200, lastError: null, nextAttemptAt: null, responseBody: 'thanks' });
    expect(new Set(flaky.requests.map((r) => r.headers['idempotency-key'])).size).toBe(1);
    // Each attempt is signed with its own timestamp.
    expect(flaky.requests.map((r) => r.headers['x-webhook-timestamp'])).toEqual([T0 / 1000, T0 / 1000 + 30, T0 / 1000 + 90].map(String));
    expect(flaky.requests.every((r, i) => verify(hook.secret, r.headers, r.body, T0 / 1000 + [0, 30, 90][i]!))).toBe(true);
    await remove(hook.id);
  });

  it('does not follow a redirect to a host off the allow-list', async () => {
    const hook = await create(redirecting.url, ['snapshot.taken']);
    await svc.gql(SNAPSHOT);
    await svc.webhooksIdle();
    expect(redirecting.requests).toHaveLength(1);
    expect(offList.requests).toHaveLength(0);
    expect((await log(hook.id))[0]).toMatchObject({ status: 'PENDING', attempts: 1, lastStatusCode: 302, lastError: `redirect to ${offList.url} not followed` });
    await remove(hook.id);
    // Deleted, its pending delivery is given up at its next attempt, without a request.
    at(T0 + 200_000);
    await svc.webhooksIdle();
    expect(redirecting.requests).toHaveLength(1);
    expect((await log(hook.id))[0]).toMatchObject({ status: 'GAVE_UP', attempts: 2, lastError: 'not sent: the webhook was deleted' });
  });

  it('sends Slack-compatible text in the SLACK format', async () => {
    const before = ok.requests.length;
    const hook = await create(ok.url, ['survey.detractor'], 'SLACK');
    await svc.gql(SURVEYS, { events: [{ eventId: 's5', customerId: 'c5', surveyId: 'q2', kind: 'NPS', score: 0, occurredAt: '2024-04-30T09:00:00Z', comment: 'never again' }] });
    await svc.webhooksIdle();
    const sent = ok.requests.slice(before);
    expect(sent.map((r) => JSON.parse(r.body))).toEqual([{ text: 'Detractor: customer c5 answered NPS survey q2 with 0: "never again"' }]);
    expect(verify(hook.secret, sent[0]!.headers, sent[0]!.body, clock.now().getTime() / 1000)).toBe(true);
    // A comment is shown as written: Slack's control sequences escaped (no @channel ping, no
    // link), its lines joined into the one line of the message.
    const comment = '<!channel> <https://evil.example|click> & *bold*\nline 2';
    await svc.gql(SURVEYS, { events: [{ eventId: 's6', customerId: 'c6', surveyId: 'q2', kind: 'NPS', score: 1, occurredAt: '2024-04-30T09:00:00Z', comment }] });
    await svc.webhooksIdle();
    expect(JSON.parse(ok.requests.at(-1)!.body)).toEqual({
      text: 'Detractor: customer c6 answered NPS survey q2 with 1: "&lt;!channel&gt; &lt;https://evil.example|click&gt; &amp; *bold* line 2"',
    });
    await remove(hook.id);
  });

  it("deletes the deliveries naming an erased customer, pending ones included", async () => {
    const hook = await create(failing.url, ['survey.detractor']);
    const survey = (eventId: string, customerId: string) => ({ eventId, customerId, surveyId: 'q3', kind: 'NPS', score: 1, occurredAt: '2024-04-30T09:00:00Z' });
    await svc.gql(SURVEYS, { events: [survey('e1', 'gone'), survey('e2', 'kept')] });
    await svc.webhooksIdle();
    expect(failing.requests).toHaveLength(2);
    const erased = await svc.gql('mutation { eraseCustomers(customerIds: ["gone"]) { customers events } }');
    expect(erased.data.eraseCustomers).toEqual({ customers: 1, events: 1 });
    const left = await log(hook.id);
    expect(left.map((d: { id: string }) => d.id)).toEqual([JSON.parse(failing.requests.find((r) => JSON.parse(r.body).data.customerId === 'kept')!.body).id]);
    at(clock.now().getTime() + 30_000);
    await svc.webhooksIdle();
    expect(failing.requests.slice(2).map((r) => JSON.parse(r.body).data.customerId)).toEqual(['kept']);
    await remove(hook.id);
  });

  it('resumes pending deliveries after a restart on the same store', async () => {
    // A free port nothing listens on yet: the first attempt is refused.
    const down = await receiver();
    const port = down.port;
    await down.close();
    await svc.stop();
    env = { ...env, WEBHOOK_ALLOWED_HOSTS: `${env.WEBHOOK_ALLOWED_HOSTS},127.0.0.1:${port}` };
    svc = await startTestService(DATABASE, env, () => clock.now(), clock);
    const hook = await create(`http://127.0.0.1:${port}/hook`, ['snapshot.taken']);
    await svc.gql(SNAPSHOT);
    await svc.webhooksIdle();
    const [failed] = await log(hook.id);
    expect(failed).toMatchObject({ status: 'PENDING', attempts: 1, lastStatusCode: null, lastError: 'request failed: ECONNREFUSED' });
    await svc.stop();

    // The receiver is back on its port, the service starts again past the retry time.
    const back = await receiver(() => ({ status: 200, body: 'ok' }), port);
    receivers.push(back);
    clock = new FakeClock(clock.now().getTime() + 60_000);
    svc = await startTestService(DATABASE, env, () => clock.now(), clock);
    // The start armed a timer for the overdue delivery: it fires as soon as time moves.
    expect(back.requests).toHaveLength(0);
    at(clock.now().getTime());
    await svc.webhooksIdle();
    expect(back.requests.map((r) => r.headers['idempotency-key'])).toEqual([failed.id]);
    expect((await log(hook.id))[0]).toMatchObject({ id: failed.id, status: 'DELIVERED', attempts: 2, lastStatusCode: 200, responseBody: 'ok' });
    await remove(hook.id);
  });

  it('checks the allow-list again before each attempt: a host removed from it gets no further request', async () => {
    const hook = await create(failing.url, ['snapshot.taken']);
    const before = failing.requests.length;
    await svc.gql(SNAPSHOT);
    await svc.webhooksIdle();
    expect(failing.requests.length).toBe(before + 1);
    await svc.stop();
    const narrower = { ...env, WEBHOOK_ALLOWED_HOSTS: `127.0.0.1:${ok.port}` };
    clock = new FakeClock(clock.now().getTime() + 30_000);
    svc = await startTestService(DATABASE, narrower, () => clock.now(), clock);
    at(clock.now().getTime());
    await svc.webhooksIdle();
    expect(failing.requests.length).toBe(before + 1);
    expect((await log(hook.id))[0]).toMatchObject({ status: 'GAVE_UP', attempts: 2, lastError: `not sent: host "127.0.0.1:${failing.port}" is not in WEBHOOK_ALLOWED_HOSTS (127.0.0.1:${ok.port})` });
    await remove(hook.id);
    await svc.stop();
    svc = await startTestService(DATABASE, env, () => clock.now(), clock);
  });

  it('sends customer.at_risk at midnight for the customers that entered atRiskCustomers since the last run', async () => {
    const P = (eventId: string, customerId: string, day: string, amount: string) => ({ eventId, customerId, occurredAt: `${day}T12:00:00Z`, amount, currency: 'USD' });
    const ingest = async (events: object[]) => (await svc.gql('mutation($events: [PurchaseInput!]!) { ingestPurchases(events: $events) { accepted } }', { events })).data.ingestPurchases.accepted;
    // tests/erasure.test.ts's buyers, whose BG/NBD fit converges at these midnights.
    const purchases = [
      P('p1', 'a', '2024-01-10', '100'), P('p2', 'a', '2024-02-15', '50'),
      P('p3', 'b', '2024-01-20', '80'), P('p4', 'b', '2024-03-05', '20'),
      P('p5', 'c', '2024-02-20', '30'),
      P('p6', 'x', '2024-01-05', '200'), P('p7', 'x', '2024-02-10', '60'), P('p8', 'x', '2024-03-01', '40'),
    ];
    expect(await ingest(purchases)).toBe(8);
    const hook = await create(ok.url, ['customer.at_risk']);
    // The reference: the public list at each midnight, with the job's arguments.
    const listed = async (day: string) =>
      (await svc.gql(`{ atRiskCustomers(first: 1000, calibrationEnd: "${day}T00:00:00Z", currency: "USD") { customers { customerId } } }`)).data.atRiskCustomers.customers.map((c: { customerId: string }) => c.customerId).sort();
    const before = ok.requests.length;

    // The first run only stores its list: the repeat buyers a, b and x.
    at(Date.parse('2024-05-02T00:00:00Z'));
    await svc.webhooksIdle();
    expect(ok.requests.length).toBe(before);
    expect(await listed('2024-05-02')).toEqual(['a', 'b', 'x']);

    // n buys twice in May; by July all four repeat buyers are listed, n for the first time.
    expect(await ingest([P('p9', 'n', '2024-05-10', '70'), P('p10', 'n', '2024-05-25', '90')])).toBe(2);
    at(Date.parse('2024-07-01T00:00:00Z'));
    await svc.webhooksIdle();
    expect(await listed('2024-07-01')).toEqual(['a', 'b', 'n', 'x']);
    const sent = ok.requests.slice(before).map((r) => JSON.parse(r.body));
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ event: 'customer.at_risk', data: { calibrationEnd: '2024-07-01T00:00:00.000Z', currency: 'USD', maxProbabilityAlive: 0.5 } });
    expect(sent[0].data.customers.map((c: { customerId: string }) => c.customerId)).toEqual(['n']);
    expect(sent[0].data.customers[0]).toMatchObject({ historicalRevenue: 160, orders: 2, lastPurchaseAt: '2024-05-25T12:00:00.000Z' });

    // In October the same four: nobody entered, nothing sent.
    at(Date.parse('2024-10-01T00:00:00Z'));
    await svc.webhooksIdle();
    expect(await listed('2024-10-01')).toEqual(['a', 'b', 'n', 'x']);
    expect(ok.requests.length).toBe(before + 1);
    await remove(hook.id);
  });
});

describe('webhook scopes', () => {
  const ADMIN = 'admin-key-0123456789';
  const READER = 'reader-key-0123456789';
  let svc: TestService;
  const as = (key: string) => ({ authorization: `Bearer ${key}` });

  beforeAll(async () => {
    svc = await startTestService('t_webhooks_scopes', { API_KEYS: `ops:admin:${ADMIN},dash:read:${READER}`, WEBHOOK_ALLOWED_HOSTS: 'hooks.example.com' });
  });
  afterAll(async () => {
    await svc?.stop();
  });

  it('needs admin to change webhooks and read to list them, never showing a secret again', async () => {
    const refused = await svc.gql(CREATE, { url: 'https://hooks.example.com/kpi', events: ['snapshot.taken'] }, as(READER));
    expect(refused.errors[0]).toMatchObject({ message: 'This API key lacks the "admin" scope', extensions: { code: 'FORBIDDEN' } });
    const created = await svc.gql(CREATE, { url: 'https://hooks.example.com/kpi', events: ['snapshot.taken'] }, as(ADMIN));
    expect(created.data.createWebhook).toMatchObject({ url: 'https://hooks.example.com/kpi', events: ['snapshot.taken'], format: 'JSON' });
    const { id } = created.data.createWebhook;
    expect((await svc.gql('{ webhooks { id url events format } }', {}, as(READER))).data.webhooks).toEqual([{ id, url: 'https://hooks.example.com/kpi', events: ['snapshot.taken'], format: 'JSON' }]);
    expect((await svc.gql('{ webhooks { secret } }', {}, as(ADMIN))).errors[0].message).toBe('Cannot query field "secret" on type "Webhook".');
    expect((await svc.gql(DELIVERIES, { id }, as(READER))).data.webhookDeliveries).toEqual({ edges: [], pageInfo: { hasNextPage: false } });
    expect((await svc.gql('mutation($id: ID!) { deleteWebhook(id: $id) }', { id }, as(READER))).errors[0].extensions.code).toBe('FORBIDDEN');
    expect((await svc.gql('mutation($id: ID!) { deleteWebhook(id: $id) }', { id }, as(ADMIN))).data.deleteWebhook).toBe(true);
    expect((await svc.gql('mutation($id: ID!) { deleteWebhook(id: $id) }', { id }, as(ADMIN))).data.deleteWebhook).toBe(false);
    expect((await svc.gql('{ webhooks { id } }', {}, as(READER))).data.webhooks).toEqual([]);
  });
});

describe('one delivery attempt', () => {
  it('counts an answer still arriving when the timeout ends as failed, keeping what came', async () => {
    // A receiver that answers 200 and the first bytes at once, then never finishes.
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('par');
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const port = (server.address() as AddressInfo).port;
    try {
      const now = new Date('2024-05-01T00:00:00Z');
      const delivery: Delivery = {
        id: 'd1', webhookId: 'w1', event: 'survey.detractor', status: 'PENDING', attempts: 0, createdAt: now, nextAttemptAt: now,
        lastStatusCode: null, lastError: null, responseBody: null, body: JSON.stringify({ id: 'd1', event: 'survey.detractor', createdAt: now, data: {} }), customerIds: [],
      };
      const hook: SigningWebhook = { id: 'w1', url: `http://127.0.0.1:${port}/hook`, events: ['survey.detractor'], format: 'JSON', createdAt: now, secret: 'x'.repeat(32) };
      const outcome = await attempt(delivery, hook, { allowed: parseAllowedHosts(`127.0.0.1:${port}`), timeoutMs: 300, now });
      expect(outcome).toMatchObject({ status: 'PENDING', statusCode: 200, error: 'answer not complete within 300 ms', responseBody: 'par' });
    } finally {
      server.closeAllConnections();
      await new Promise((done) => server.close(done));
    }
  });
});
