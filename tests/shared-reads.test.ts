import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SHARED_ANSWER_HEADER, SharedReads } from '../server/shared-reads.js';
import { startTestService, type TestService } from './helpers/service.js';

describe('SharedReads', () => {
  let clock = 0;
  const reads = () => new SharedReads(1000, () => clock);

  it('lets an identical request join a running one within the window, and only then', async () => {
    clock = 0;
    const s = reads();
    const leader = s.turn('q', 0, 'r1');
    expect(leader.lead).toBe(true);
    clock = 1000;
    const joiner = s.turn('q', 0, 'r2');
    expect(joiner).toMatchObject({ lead: false, requestId: 'r1' });
    expect(s.turn('other', 0, 'r3').lead).toBe(true);
    clock = 1001;
    // Past the window: a new run, which later requests join instead.
    const late = s.turn('q', 0, 'r4');
    expect(late.lead).toBe(true);
    expect(s.turn('q', 0, 'r5')).toMatchObject({ lead: false, requestId: 'r4' });
    if (!leader.lead || joiner.lead || !late.lead) throw new Error('unreachable');
    leader.settle({ data: { n: 1 } });
    expect(await joiner.answer).toEqual({ data: { n: 1 } });
    // The first leader's settling leaves the later run in place.
    expect(s.turn('q', 0, 'r6')).toMatchObject({ lead: false, requestId: 'r4' });
    late.settle(undefined);
    expect(s.size).toBe(1); // 'other' still runs
  });

  it('never joins across a write, and keeps no finished answer', () => {
    clock = 0;
    const s = reads();
    const first = s.turn('q', 0, 'r1');
    expect(s.turn('q', 1, 'r2').lead).toBe(true);
    // The run after the write replaced the entry; requests at generation 0 start anew too.
    expect(s.turn('q', 0, 'r3').lead).toBe(true);
    const again = s.turn('q', 0, 'r4');
    expect(again).toMatchObject({ lead: false, requestId: 'r3' });
    if (first.lead) first.settle({ data: {} });
    const s2 = reads();
    const only = s2.turn('q', 0, 'a');
    if (only.lead) only.settle({ data: {} });
    expect(s2.size).toBe(0);
    expect(s2.turn('q', 0, 'b').lead).toBe(true);
  });
});

describe('shared reads through the service', () => {
  let svc: TestService;
  // 12 monthly snapshots one after the other: long enough that identical requests sent together overlap.
  const SERIES = '{ kpiSeries(from: "2025-01-01T00:00:00Z", to: "2026-01-01T00:00:00Z", grain: MONTH, asOf: "2026-06-01T00:00:00Z") { from customers orders revenue } }';

  const post = async (query: string) => {
    const res = await fetch(`${svc.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query }) });
    return { shared: res.headers.get(SHARED_ANSWER_HEADER), requestId: res.headers.get('x-request-id'), body: (await res.json()) as { data?: any; errors?: any[] } };
  };
  const ingest = async (lines: object[]) => {
    const res = await fetch(`${svc.url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body: lines.map((l) => JSON.stringify(l)).join('\n') });
    expect(res.status).toBe(200);
  };

  beforeAll(async () => {
    svc = await startTestService('t_shared_reads');
    const purchases = Array.from({ length: 120 }, (_, i) => ({
      type: 'purchase',
      eventId: `p${i}`,
      customerId: `c${i % 40}`,
      occurredAt: new Date(Date.UTC(2023, i % 36, 1 + (i % 27), 12)).toISOString(),
      amount: String(10 + i),
      currency: 'USD',
    }));
    await ingest(purchases);
  });
  afterAll(async () => {
    await svc?.stop();
  });

  it('answers identical concurrent queries alike, running them once between them', async () => {
    const alone = await post(SERIES);
    expect(alone.body.errors).toBeUndefined();
    expect(alone.shared).toBeNull();
    let selects = 0;
    const stop = svc.exec.observe(({ query }) => /^\s*(SELECT|WITH)/i.test(query) && selects++);
    const single = selects;
    const one = await post(SERIES);
    const perRun = selects - single;
    const before = selects;
    const answers = await Promise.all([post(SERIES), post(SERIES), post(SERIES)]);
    stop();
    for (const a of answers) expect(a.body).toEqual(alone.body);
    expect(one.body).toEqual(alone.body);
    const shared = answers.filter((a) => a.shared !== null);
    // Every answer that did not run itself names the request that did.
    for (const a of shared) expect(answers.map((x) => x.requestId)).toContain(a.shared);
    expect(shared.length).toBeGreaterThan(0);
    expect(selects - before).toBe(perRun * (answers.length - shared.length));
    const metrics = await (await fetch(`${svc.url}/metrics`)).text();
    expect(metrics).toContain(`kpi_graphql_shared_answers_total{operation="(anonymous)"} ${shared.length}`);
  });

  it('does not share an answer that carries errors: each request gets its own', async () => {
    const bad = '{ kpiSeries(from: "2026-01-01T00:00:00Z", to: "2025-01-01T00:00:00Z", grain: MONTH) { from } }';
    const answers = await Promise.all([post(bad), post(bad), post(bad)]);
    for (const a of answers) {
      expect(a.shared).toBeNull();
      expect(a.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
      expect(a.body.errors?.[0]?.extensions?.requestId).toBe(a.requestId);
    }
  });

  it('answers a query sent after an acknowledged write with that write, whatever runs', async () => {
    const before = await post(SERIES);
    let started!: () => void;
    const running = new Promise<void>((r) => (started = r));
    const stop = svc.exec.observe(() => started());
    const first = post(SERIES);
    await running;
    stop();
    // A purchase of a new customer in March 2025: that month's customers grow by one.
    await ingest([{ type: 'purchase', eventId: 'late-1', customerId: 'new-1', occurredAt: '2025-03-10T00:00:00Z', amount: '5', currency: 'USD' }]);
    const after = await post(SERIES);
    await first;
    expect(after.shared).toBeNull();
    const march = (b: typeof before) => b.body.data.kpiSeries.find((p: any) => p.from.startsWith('2025-03'));
    expect(march(after).customers).toBe(march(before).customers + 1);
  });
});
