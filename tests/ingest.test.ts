import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from './helpers/service.js';

const purchase = (id: string, customer = 'c1', amount: string | number = '10.50', at = '2024-03-01T10:00:00Z') =>
  JSON.stringify({ type: 'purchase', eventId: id, customerId: customer, occurredAt: at, amount, currency: 'USD' });

describe('event ingestion', () => {
  let svc: TestService;
  const post = (body: string, query = '', headers: Record<string, string> = {}) =>
    fetch(`${svc.url}/v1/events${query}`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson', ...headers }, body });
  const count = async (table: string) =>
    (await svc.exec.rows<{ n: number }>({ query: `SELECT count() AS n FROM {db:Identifier}.${table}`, query_params: {} }, { requestId: 't' }))[0]!.n;

  beforeAll(async () => {
    svc = await startTestService('t_ingest', { INGEST_MAX_BODY_BYTES: '100000' });
  });
  afterAll(async () => {
    await svc?.stop();
  });

  it('stores the valid lines of a mixed batch and reports each rejected line', async () => {
    const body = [
      purchase('m-1'),
      '{"type":"purchase","eventId":"m-2","customerId":"c1","occurredAt":"2024-03-01T10:00:00","amount":"1","currency":"USD"}',
      '',
      'not json',
      JSON.stringify({ type: 'survey', eventId: 's-1', customerId: 'c1', surveyId: 'q1', kind: 'NPS', score: 9, occurredAt: '2024-03-02T00:00:00Z' }),
      JSON.stringify({ type: 'return', eventId: 'r-1' }),
      '',
    ].join('\n');
    const res = await post(body);
    expect(res.status).toBe(200);
    const answer = await res.json();
    expect(answer.accepted).toBe(2);
    expect(answer.duplicates).toBe(0);
    expect(answer.rejected.map((r: any) => [r.line, r.eventId])).toEqual([[2, 'm-2'], [4, null], [6, 'r-1']]);
    expect(answer.rejected[0].errors).toEqual(['occurredAt: timestamp must include a zone (Z or ±hh:mm)']);
    expect(await count('purchases')).toBe(1);
    expect(await count('survey_responses')).toBe(1);
  });

  it('stores nothing in atomic mode when a line is rejected', async () => {
    const res = await post([purchase('a-1'), purchase('a-2', 'c1', '1.12345')].join('\n'), '?atomic=true');
    expect(res.status).toBe(422);
    const answer = await res.json();
    expect(answer.accepted).toBe(0);
    expect(answer.rejected).toEqual([{ line: 2, eventId: 'a-2', errors: ['amount: must have at most 4 decimal places (got 5)'] }]);
    expect(answer.error.code).toBe('REJECTED_LINES');
    expect(await count('purchases')).toBe(1);
  });

  it('counts every invalid line of a large mixed body but lists only the first 1,000, in line order', async () => {
    // Line n (1-based): blank when n % 10 == 0, valid when n % 8 == 1, else invalid (short lines: the body limit is 100 kB).
    const lines: string[] = [];
    const invalid: number[] = [];
    let valid = 0;
    for (let n = 1; n <= 2_000; n++) {
      if (n % 10 === 0) lines.push('');
      else if (n % 8 === 1) {
        lines.push(purchase(`mix-${n}`, 'mix', '1', '2023-03-01T10:00:00Z'));
        valid++;
      } else {
        lines.push(n % 2 === 0 ? `not json ${n}` : JSON.stringify({ type: 'return', eventId: `mix-${n}` }));
        invalid.push(n);
      }
    }
    const before = await count('purchases');
    const res = await post(lines.join('\n'));
    expect(res.status).toBe(200);
    const answer = await res.json();
    // 2,000 lines: 200 blank; of the other 1,800, n % 8 == 1 (n odd, never a multiple of 10) is 250 lines.
    expect([valid, invalid.length]).toEqual([250, 1_550]);
    expect(answer.accepted).toBe(250);
    expect(answer.duplicates).toBe(0);
    expect(answer.rejectedCount).toBe(1_550);
    expect(answer.accepted + answer.duplicates + answer.rejectedCount).toBe(1_800);
    expect(answer.rejected).toHaveLength(1_000);
    expect(answer.rejected.map((r: any) => r.line)).toEqual(invalid.slice(0, 1_000));
    expect(answer.rejected[1]).toEqual({ line: 3, eventId: 'mix-3', errors: ['type: must be one of purchase, refund, referral, survey, customer, loyalty, touch (got "return")'] });

    const atomic = await post(lines.map((l) => l.replace('"mix-', '"atomic-mix-')).join('\n'), '?atomic=true');
    expect(atomic.status).toBe(422);
    const refused = await atomic.json();
    expect([refused.accepted, refused.duplicates, refused.rejectedCount, refused.rejected.length]).toEqual([0, 0, 1_550, 1_000]);
    expect(refused.error).toEqual({ code: 'REJECTED_LINES', message: '1550 line(s) rejected; atomic request stored nothing' });
    expect(await count('purchases')).toBe(before + 250);
  });

  it('reads a request path starting with // as a path, not as a host', async () => {
    // `new URL('//v1/events', base)` would be host "v1", path "/events".
    const res = await fetch(`${svc.url}//v1/events?atomic=true`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body: purchase('slash-1', 'c1', '-5') });
    expect(res.status).toBe(422);
    expect((await res.json()).rejected).toEqual([{ line: 1, eventId: 'slash-1', errors: ['amount: must be >= 0 (got "-5")'] }]);
  });

  it('counts a retried eventId as a duplicate, within a request, across requests and concurrently', async () => {
    const first = await (await post([purchase('d-1', 'c2'), purchase('d-1', 'c2', '99')].join('\n'))).json();
    expect(first).toEqual({ accepted: 1, duplicates: 1, rejectedCount: 0, rejected: [] });
    const again = await (await post(purchase('d-1', 'c2'))).json();
    expect(again).toEqual({ accepted: 0, duplicates: 1, rejectedCount: 0, rejected: [] });
    const body = Array.from({ length: 50 }, (_, i) => purchase(`cc-${i}`, `cust-${i % 7}`)).join('\n');
    const answers = await Promise.all([post(body), post(body), post(body)].map(async (r) => (await r).json()));
    expect(answers.reduce((s, a) => s + a.accepted, 0)).toBe(50);
    expect(answers.reduce((s, a) => s + a.duplicates, 0)).toBe(100);
    // The first stored version wins: d-1 keeps amount 10.50, not the 99 of its copy.
    const rows = await svc.exec.rows<{ amount: number; n: number }>(
      { query: "SELECT any(amount) AS amount, count() AS n FROM {db:Identifier}.purchases WHERE event_id = 'd-1'", query_params: {} },
      { requestId: 't' },
    );
    expect(rows).toEqual([{ amount: 10.5, n: 1 }]);
    const kpi = await svc.gql('{ repeatPurchaseRate(from: "2024-01-01T00:00:00Z", to: "2025-01-01T00:00:00Z") { customers orders } }');
    expect(kpi.data.repeatPurchaseRate).toEqual({ customers: 9, orders: 52 });
  });

  it('answers 415 for a wrong content type and 413 past the body limit', async () => {
    const wrong = await post(purchase('x-1'), '', { 'content-type': 'application/json' });
    expect(wrong.status).toBe(415);
    expect((await wrong.json()).error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    // A compressed body is refused as such, not read as text and refused line by line.
    const gzipped = await post(purchase('x-2'), '', { 'content-encoding': 'gzip' });
    expect(gzipped.status).toBe(415);
    expect((await gzipped.json()).error).toMatchObject({ code: 'UNSUPPORTED_MEDIA_TYPE', message: 'Content-Encoding "gzip" is not supported: send the NDJSON body uncompressed' });
    const big = await post('x'.repeat(200_000));
    expect(big.status).toBe(413);
    expect((await big.json()).error.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('ingests through GraphQL mutations with per-event errors and a batch limit', async () => {
    const m = `mutation($events: [PurchaseInput!]!) { ingestPurchases(events: $events) { accepted duplicates rejected { line eventId errors } } }`;
    const events = [
      { eventId: 'g-1', customerId: 'g', occurredAt: '2024-05-01T00:00:00+02:00', amount: 12.5, currency: 'EUR' },
      { eventId: 'g-2', customerId: 'g', occurredAt: '2024-05-01T00:00:00Z', amount: '5', currency: 'XXY' },
      { eventId: 'g-1', customerId: 'g', occurredAt: '2024-05-01T00:00:00Z', amount: '1', currency: 'EUR' },
    ];
    const r = await svc.gql(m, { events });
    expect(r.errors).toBeUndefined();
    expect(r.data.ingestPurchases).toEqual({
      accepted: 1,
      duplicates: 1,
      rejected: [{ line: 2, eventId: 'g-2', errors: ['currency: not an ISO 4217 currency code (got "XXY")'] }],
    });
    const stored = await svc.exec.rows<{ t: string; amount: number }>(
      { query: "SELECT toString(occurred_at) AS t, amount FROM {db:Identifier}.purchases WHERE event_id = 'g-1'", query_params: {} },
      { requestId: 't' },
    );
    expect(stored).toEqual([{ t: '2024-04-30 22:00:00.000', amount: 12.5 }]);
    // 1,200 invalid events: all counted, the first 1,000 listed, the valid ones stored.
    const many = [...events, ...Array.from({ length: 1_200 }, (_, i) => ({ ...events[0], eventId: `gbad-${i}`, currency: 'EURO' }))];
    const m2 = `mutation($events: [PurchaseInput!]!) { ingestPurchases(events: $events) { accepted duplicates rejectedCount rejected { line } } }`;
    const bulk = await svc.gql(m2, { events: many });
    expect(bulk.errors).toBeUndefined();
    const result = bulk.data.ingestPurchases;
    expect([result.accepted, result.duplicates, result.rejectedCount, result.rejected.length]).toEqual([0, 2, 1_201, 1_000]);
    expect(result.rejected.slice(0, 3)).toEqual([{ line: 2 }, { line: 4 }, { line: 5 }]);
    expect(result.rejected.at(-1)).toEqual({ line: 1_002 });
    const tooMany = await svc.gql(m, { events: Array.from({ length: 10_001 }, (_, i) => ({ ...events[0], eventId: `big-${i}` })) });
    expect(tooMany.errors[0].message).toBe('At most 10000 events per call (got 10001); send larger loads to POST /v1/events.');
  });

  it('stores refunds from NDJSON and ingestRefunds, once per eventId, with the purchase rules and a positive amount', async () => {
    const line = (id: string, amount: string | number) =>
      JSON.stringify({ type: 'refund', eventId: id, customerId: 'rf', orderId: 'o-1', occurredAt: '2024-06-01T12:00:00+02:00', amount, currency: 'USD', reason: 'late' });
    const res = await post([line('rf-1', '2.50'), line('rf-1', '2.50'), line('rf-2', 0)].join('\n'));
    const answer = await res.json();
    expect([answer.accepted, answer.duplicates, answer.rejected]).toEqual([1, 1, [{ line: 3, eventId: 'rf-2', errors: ['amount: a refund must be > 0 (got 0)'] }]]);
    const m = `mutation($events: [RefundInput!]!) { ingestRefunds(events: $events) { accepted duplicates rejectedCount } }`;
    const r = await svc.gql(m, { events: [{ eventId: 'rf-1', customerId: 'rf', orderId: 'o-1', occurredAt: '2024-06-01T10:00:00Z', amount: '2.5', currency: 'USD' }, { eventId: 'rf-3', customerId: 'rf', orderId: 'o-2', occurredAt: '2024-06-02T10:00:00Z', amount: 1, currency: 'EUR' }] });
    expect(r.data.ingestRefunds).toEqual({ accepted: 1, duplicates: 1, rejectedCount: 0 });
    const stored = await svc.exec.rows<Record<string, unknown>>(
      { query: 'SELECT event_id, order_id, toString(occurred_at) AS t, toString(amount) AS amount, currency, reason FROM {db:Identifier}.refunds ORDER BY event_id', query_params: {} },
      { requestId: 't' },
    );
    expect(stored).toEqual([
      { event_id: 'rf-1', order_id: 'o-1', t: '2024-06-01 10:00:00.000', amount: '2.5', currency: 'USD', reason: 'late' },
      { event_id: 'rf-3', order_id: 'o-2', t: '2024-06-02 10:00:00.000', amount: '1', currency: 'EUR', reason: null },
    ]);
  });

  it('reads an amount written as a number in the mutation text like the same number in an NDJSON line', async () => {
    // 1e3 is 1000 with no decimals and 1.5e-3 is 0.0015 (spec section 10: a Decimal "takes a
    // string or a number"); 1.50000 has five decimals as written and 1e-5 five, both refused.
    const r = await svc.gql(`mutation {
      ingestPurchases(events: [
        { eventId: "lit-1", customerId: "lit", occurredAt: "2024-05-02T00:00:00Z", amount: 1e3, currency: "USD" },
        { eventId: "lit-2", customerId: "lit", occurredAt: "2024-05-02T00:00:00Z", amount: 1.5e-3, currency: "USD" },
        { eventId: "lit-3", customerId: "lit", occurredAt: "2024-05-02T00:00:00Z", amount: 1.50000, currency: "USD" },
        { eventId: "lit-4", customerId: "lit", occurredAt: "2024-05-02T00:00:00Z", amount: 1e-5, currency: "USD" },
        { eventId: "lit-5", customerId: "lit", occurredAt: "2024-05-02T00:00:00Z", amount: 7, currency: "USD" }
      ]) { accepted rejected { line errors } }
      refunds: ingestRefunds(events: [{ eventId: "lit-r", customerId: "lit", orderId: "lit-1", occurredAt: "2024-05-03T00:00:00Z", amount: 5e0, currency: "USD" }]) { accepted }
    }`);
    expect(r.errors).toBeUndefined();
    expect(r.data.ingestPurchases).toEqual({
      accepted: 3,
      rejected: [
        { line: 3, errors: ['amount: must have at most 4 decimal places (got 5)'] },
        { line: 4, errors: ['amount: must have at most 4 decimal places (got 5)'] },
      ],
    });
    expect(r.data.refunds).toEqual({ accepted: 1 });
    const stored = await svc.exec.rows<{ event_id: string; amount: string }>(
      { query: "SELECT event_id, toString(amount) AS amount FROM {db:Identifier}.purchases WHERE customer_id = 'lit' UNION ALL SELECT event_id, toString(amount) FROM {db:Identifier}.refunds WHERE customer_id = 'lit' ORDER BY event_id", query_params: {} },
      { requestId: 't' },
    );
    expect(stored).toEqual([{ event_id: 'lit-1', amount: '1000' }, { event_id: 'lit-2', amount: '0.0015' }, { event_id: 'lit-5', amount: '7' }, { event_id: 'lit-r', amount: '5' }]);
  });
});
