import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from './helpers/service.js';

// A store small enough to work out by hand (MONTH cohorts, asOf 2023-06-01):
// - a: 01-10 cancelled in full on 01-12, so a's first purchase is 03-05: cohort March, not
//   January; then 04-20 (offset 1);
// - b: 03-02 and 05-10 (offset 2);
// - c: 03-31 23:30 UTC (01:30 on April 1st in Berlin) and 04-01 (offset 1);
// - d: 02-15 and 03-20: cohort February, offset 1;
// - e: 03-15, and 04-10 cancelled on 04-11: not retained at offset 1;
// - f: 03-25 only.
// March (UTC): size 5 (a b c e f); offset 1 retained a c, offset 2 retained b, offset 3 (June,
// the period containing asOf) no one; offset 4 (July) starts after asOf: no such cell.
// In Europe/Berlin c's first purchase falls in April: March is a b e f, and c is April's.
const P = (eventId: string, customerId: string, occurredAt: string) => ({
  type: 'purchase', eventId, customerId, occurredAt: occurredAt.includes('T') ? occurredAt : `2023-${occurredAt}T12:00:00Z`, amount: '20', currency: 'USD',
});
const R = (eventId: string, customerId: string, orderId: string, day: string) => ({
  type: 'refund', eventId, customerId, orderId, occurredAt: `2023-${day}T12:00:00Z`, amount: '20', currency: 'USD',
});
const EVENTS = [
  P('a1', 'a', '01-10'), R('ra1', 'a', 'a1', '01-12'), P('a2', 'a', '03-05'), P('a3', 'a', '04-20'),
  P('b1', 'b', '03-02'), P('b2', 'b', '05-10'),
  P('c1', 'c', '2023-03-31T23:30:00Z'), P('c2', 'c', '04-01'),
  P('d1', 'd', '02-15'), P('d2', 'd', '03-20'),
  P('e1', 'e', '03-15'), P('e2', 'e', '04-10'), R('re2', 'e', 'e2', '04-11'),
  P('f1', 'f', '03-25'),
  { type: 'customer', eventId: 'pa', customerId: 'a', occurredAt: '2023-01-01T00:00:00Z', country: 'DE' },
  { type: 'customer', eventId: 'pc', customerId: 'c', occurredAt: '2023-01-01T00:00:00Z', country: 'FR' },
  // Known by a profile only, with an id CSV must quote.
  { type: 'customer', eventId: 'pq', customerId: 'q"u,o', occurredAt: '2023-01-01T00:00:00Z', segment: 'vip, "gold"' },
];
const AS_OF = '2023-06-01T00:00:00Z';
const MARCH = '2023-03-01T00:00:00Z';

const LIST = `query($grain: Grain, $cohortStart: DateTime!, $offset: Int!, $retained: Boolean, $timezone: String, $filter: CustomerFilter, $first: Int, $after: String) {
  cohortCustomers(grain: $grain, cohortStart: $cohortStart, offset: $offset, retained: $retained, timezone: $timezone, asOf: "${AS_OF}", filter: $filter, first: $first, after: $after) {
    customerIds pageInfo { hasNextPage endCursor }
  }
}`;
const COHORTS = `query($timezone: String, $filter: CustomerFilter) {
  retentionCohorts(from: "2023-01-01T00:00:00Z", to: "2023-07-01T00:00:00Z", periods: 4, timezone: $timezone, asOf: "${AS_OF}", filter: $filter) {
    cohorts { cohortStart size cells { offset retained } }
  }
}`;

let svc: TestService;

async function ids(vars: Record<string, unknown>): Promise<string[]> {
  const r = await svc.gql(LIST, vars);
  expect(r.errors).toBeUndefined();
  return r.data.cohortCustomers.customerIds;
}

/** Every id of a cell, page after page of `first`. */
async function allPages(vars: Record<string, unknown>, first: number): Promise<{ ids: string[]; pages: number }> {
  const out: string[] = [];
  let after: string | null = null;
  let pages = 0;
  for (;;) {
    const r: { data?: any; errors?: unknown } = await svc.gql(LIST, { ...vars, first, after });
    expect(r.errors).toBeUndefined();
    const page: { customerIds: string[]; pageInfo: { hasNextPage: boolean; endCursor: string } } = r.data.cohortCustomers;
    pages++;
    out.push(...page.customerIds);
    if (!page.pageInfo.hasNextPage) return { ids: out, pages };
    after = page.pageInfo.endCursor;
  }
}

beforeAll(async () => {
  svc = await startTestService('t_cohort_customers', { ERASURE_HMAC_KEY: 'cohort-customers-test-key' });
  const res = await fetch(`${svc.url}/v1/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-ndjson' },
    body: EVENTS.map((e) => JSON.stringify(e)).join('\n'),
  });
  expect(await res.json()).toMatchObject({ accepted: EVENTS.length, rejectedCount: 0 });
});
afterAll(async () => {
  await svc?.stop();
});

describe('cohortCustomers', () => {
  it('lists the hand-computed customers of each cell, a cancelled first order moving a customer to a later cohort', async () => {
    expect(await ids({ cohortStart: MARCH, offset: 0 })).toEqual(['a', 'b', 'c', 'e', 'f']);
    expect(await ids({ cohortStart: MARCH, offset: 1, retained: true })).toEqual(['a', 'c']);
    expect(await ids({ cohortStart: MARCH, offset: 1, retained: false })).toEqual(['b', 'e', 'f']);
    expect(await ids({ cohortStart: MARCH, offset: 2, retained: true })).toEqual(['b']);
    expect(await ids({ cohortStart: MARCH, offset: 3, retained: false })).toEqual(['a', 'b', 'c', 'e', 'f']);
    expect(await ids({ cohortStart: '2023-02-01T00:00:00Z', offset: 1, retained: true })).toEqual(['d']);
    // a's cancelled January order makes no January cohort.
    expect(await ids({ cohortStart: '2023-01-01T00:00:00Z', offset: 0 })).toEqual([]);
  });

  it('answers no one for a cell whose period starts after asOf, which retentionCohorts omits', async () => {
    expect(await ids({ cohortStart: MARCH, offset: 4, retained: false })).toEqual([]);
    expect(await ids({ cohortStart: MARCH, offset: 4 })).toEqual([]);
  });

  it('counts equal the cells of retentionCohorts, by grain source (UTC state, Berlin raw) and filter', async () => {
    for (const extra of [{}, { timezone: 'Europe/Berlin' }, { filter: { country: ['DE', 'FR'] } }]) {
      const r = await svc.gql(COHORTS, extra);
      expect(r.errors).toBeUndefined();
      const cohorts = r.data.retentionCohorts.cohorts as { cohortStart: string; size: number; cells: { offset: number; retained: number }[] }[];
      expect(cohorts.length).toBeGreaterThan(0);
      for (const c of cohorts) {
        const whole = await ids({ ...extra, cohortStart: c.cohortStart, offset: 0 });
        expect(whole.length).toBe(c.size);
        for (const cell of c.cells) {
          const kept = await ids({ ...extra, cohortStart: c.cohortStart, offset: cell.offset, retained: true });
          const lost = await ids({ ...extra, cohortStart: c.cohortStart, offset: cell.offset, retained: false });
          expect([kept.length, lost.length]).toEqual([cell.retained, c.size - cell.retained]);
          expect([...kept, ...lost].sort()).toEqual(whole);
        }
      }
    }
    expect(await ids({ cohortStart: '2023-02-28T23:00:00Z', offset: 0, timezone: 'Europe/Berlin' })).toEqual(['a', 'b', 'e', 'f']);
    expect(await ids({ cohortStart: '2023-03-31T22:00:00Z', offset: 0, timezone: 'Europe/Berlin' })).toEqual(['c']);
    expect(await ids({ cohortStart: MARCH, offset: 1, retained: true, filter: { country: ['DE'] } })).toEqual(['a']);
  });

  it('pages through a cell in customer id order, every id once', async () => {
    const { ids: paged, pages } = await allPages({ cohortStart: MARCH, offset: 0 }, 2);
    expect(paged).toEqual(['a', 'b', 'c', 'e', 'f']);
    expect(pages).toBe(3);
    const one = await svc.gql(LIST, { cohortStart: MARCH, offset: 0, first: 5 });
    expect(one.data.cohortCustomers.pageInfo.hasNextPage).toBe(false);
  });

  it('refuses bad arguments naming them', async () => {
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ first: 0 }, 'first', /"first" must be an integer from 1 to 1000 \(got 0\)/],
      [{ first: 1001 }, 'first', /"first" must be an integer from 1 to 1000 \(got 1001\)/],
      [{ offset: -1 }, 'offset', /"offset" must be an integer from 0 to 120 \(got -1\)/],
      [{ offset: 121 }, 'offset', /"offset" must be an integer from 0 to 120/],
      [{ cohortStart: '2023-03-02T00:00:00Z' }, 'cohortStart', /"cohortStart" must be the start of a MONTH period in UTC/],
      [{ cohortStart: MARCH, timezone: 'Europe/Berlin' }, 'cohortStart', /"cohortStart" must be the start of a MONTH period in Europe\/Berlin/],
      [{ cohortStart: '2100-01-01T00:00:00Z' }, 'cohortStart', /"cohortStart" must be in \[1970/],
      [{ after: 'not-a-cursor' }, 'after', /"after" is not a cursor returned by cohortCustomers/],
      [{ timezone: 'Mars/Base' }, 'timezone', /"timezone" must be an IANA zone/],
      [{ filter: { country: [] } }, 'filter.country', /"filter.country" is an empty list/],
    ];
    for (const [vars, field, message] of cases) {
      const r = await svc.gql(LIST, { cohortStart: MARCH, offset: 0, ...vars });
      expect(r.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field });
      expect(r.errors[0].message).toMatch(message);
    }
  });

  it('exports every cell as CSV equal to the GraphQL list, parameters named as its arguments', async () => {
    const cells: Record<string, string>[] = [
      { cohortStart: MARCH, offset: '0' },
      { cohortStart: MARCH, offset: '1', retained: 'true' },
      { cohortStart: MARCH, offset: '1', retained: 'false', grain: 'MONTH' },
      { cohortStart: '2023-02-28T23:00:00Z', offset: '0', timezone: 'Europe/Berlin' },
      { cohortStart: MARCH, offset: '1', retained: 'true', filter: JSON.stringify({ country: ['DE'] }) },
      { cohortStart: MARCH, offset: '4', retained: 'false' },
    ];
    for (const cell of cells) {
      const res = await fetch(`${svc.url}/v1/exports/cohort-customers.csv?${new URLSearchParams({ ...cell, asOf: AS_OF })}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/csv/);
      const { offset, retained, filter, ...rest } = cell;
      const vars = { ...rest, offset: Number(offset), ...(retained ? { retained: retained === 'true' } : {}), ...(filter ? { filter: JSON.parse(filter) } : {}) };
      const { ids: listed } = await allPages(vars, 1000);
      expect(await res.text()).toBe(['customerId', ...listed].map((l) => `${l}\r\n`).join(''));
    }
  });

  it('exports customers in the order of ids, quoting per RFC 4180, an unknown id with empty cells', async () => {
    const ids = ['c', 'q"u,o', 'nobody', 'a'];
    const r = await svc.gql(`query($ids: [String!]!) { customers(ids: $ids, asOf: "${AS_OF}") { customerId firstPurchaseAt lastPurchaseAt orders revenue { currency amount } country channel segment } }`, { ids });
    expect(r.errors).toBeUndefined();
    const quote = (v: unknown) => (v === null || v === undefined ? '' : /[",\r\n]/.test(String(v)) ? `"${String(v).replaceAll('"', '""')}"` : String(v));
    const expected = [
      'customerId,firstPurchaseAt,lastPurchaseAt,orders,revenue,country,channel,segment',
      ...r.data.customers.map((c: any, i: number) =>
        // RFC 4180: every row as wide as the header, an unknown id's seven cells empty.
        c === null ? [quote(ids[i]), '', '', '', '', '', '', ''].join(',') : [c.customerId, c.firstPurchaseAt, c.lastPurchaseAt, c.orders, JSON.stringify(c.revenue), c.country, c.channel, c.segment].map(quote).join(','),
      ),
    ];
    expect(expected[2]).toBe('"q""u,o",,,0,[],,,"vip, ""gold"""');
    expect(expected[3]).toBe('nobody,,,,,,,');
    const res = await fetch(`${svc.url}/v1/exports/customers.csv?${new URLSearchParams([...ids.map((id) => ['ids', id]), ['asOf', AS_OF]])}`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(expected.map((l) => `${l}\r\n`).join(''));
  });

  it('takes the parameters of an export as a POSTed form too, so 10 000 ids fit (a URL holds about 1 400)', async () => {
    const form = (n: number) => new URLSearchParams([...Array.from({ length: n }, (_, i) => ['ids', i === 0 ? 'a' : `unknown-customer-${i}`]), ['asOf', AS_OF]]);
    const post = (body: URLSearchParams | string, type = 'application/x-www-form-urlencoded', query = '') =>
      fetch(`${svc.url}/v1/exports/customers.csv${query}`, { method: 'POST', headers: { 'content-type': type }, body: String(body) });
    const res = await post(form(10_000));
    expect(res.status).toBe(200);
    const rows = (await res.text()).split('\r\n');
    expect(rows).toHaveLength(10_002); // the header, 10 000 rows and the empty string after the last CRLF
    expect(rows[1]).toMatch(/^a,20/);
    expect(rows[10_000]).toBe('unknown-customer-9999,,,,,,,');
    const tooMany = await post(form(10_001));
    expect(tooMany.status).toBe(400);
    expect((await tooMany.json()).error).toMatchObject({ code: 'BAD_USER_INPUT', field: 'ids' });
    for (const refused of [await post('ids=a', 'application/json'), await post('ids=a', undefined, `?asOf=${AS_OF}`)]) {
      expect(refused.status).toBe(415);
      expect((await refused.json()).error.message).toMatch(/takes its parameters as a application\/x-www-form-urlencoded body, not in the URL/);
    }
  });

  it('refuses bad export parameters with 400 naming the parameter, as GraphQL would', async () => {
    const cases: [string, string, RegExp][] = [
      ['cohort-customers.csv?offset=0', 'cohortStart', /"cohortStart" is required/],
      [`cohort-customers.csv?cohortStart=${MARCH}&offset=x`, 'offset', /"offset": Int cannot represent non-integer value: "x"/],
      [`cohort-customers.csv?cohortStart=${MARCH}&offset=121`, 'offset', /"offset" must be an integer from 0 to 120/],
      [`cohort-customers.csv?cohortStart=${MARCH}&offset=0&grain=month`, 'grain', /"grain": Value "month" does not exist in "Grain" enum/],
      [`cohort-customers.csv?cohortStart=${MARCH}&offset=0&retained=yes`, 'retained', /"retained": Boolean cannot represent a non boolean value: "yes"/],
      [`cohort-customers.csv?cohortStart=2023-03-02T00:00:00Z&offset=0`, 'cohortStart', /"cohortStart" must be the start of a MONTH period in UTC/],
      [`cohort-customers.csv?cohortStart=${MARCH}&offset=0&first=10`, 'first', /Unknown parameter "first"; this export takes/],
      [`cohort-customers.csv?cohortStart=${MARCH}&offset=0&filter={country`, 'filter', /"filter" must be a JSON object/],
      [`cohort-customers.csv?cohortStart=${MARCH}&offset=0&filter={"country":[]}`, 'filter.country', /"filter.country" is an empty list/],
      [`cohort-customers.csv?cohortStart=${MARCH}&offset=0&filter={"colour":["red"]}`, 'filter', /"filter": Field "colour" is not defined by type "CustomerFilter"/],
      [`cohort-customers.csv?cohortStart=${MARCH}&offset=0&offset=1`, 'offset', /"offset" is given 2 times/],
      [`cohort-customers.csv?cohortStart=yesterday&offset=0`, 'cohortStart', /"cohortStart": DateTime cannot represent/],
      ['at-risk.csv?first=0', 'first', /"first" must be an integer from 1 to 1000 \(got 0\)/],
      ['at-risk.csv?maxProbabilityAlive=2', 'maxProbabilityAlive', /"maxProbabilityAlive" must be in \(0, 1\]/],
      ['customers.csv?asOf=2023-01-01T00:00:00Z', 'ids', /"ids" is required/],
    ];
    for (const [path, field, message] of cases) {
      const res = await fetch(`${svc.url}/v1/exports/${path}`);
      const body = (await res.json()) as { error: { code: string; message: string; field: string } };
      expect([res.status, body.error.code, body.error.field]).toEqual([400, 'BAD_USER_INPUT', field]);
      expect(body.error.message).toMatch(message);
    }
    const missing = await fetch(`${svc.url}/v1/exports/people.csv`);
    expect(missing.status).toBe(404);
  });

  it('lists no erased customer', async () => {
    const r = await svc.gql(`mutation { eraseCustomers(customerIds: ["f"]) { customers } }`);
    expect(r.errors).toBeUndefined();
    expect(await ids({ cohortStart: MARCH, offset: 1, retained: false })).toEqual(['b', 'e']);
    expect(await ids({ cohortStart: MARCH, offset: 0 })).toEqual(['a', 'b', 'c', 'e']);
  });
});
