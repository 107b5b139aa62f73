import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashKey } from '../server/auth.js';
import { evaluateAlerts, startAlertScheduler, type AlertScheduler } from '../server/alerts/scheduler.js';
import { createLogger } from '../server/logger.js';
import type { NotificationEvent, Notifier } from '../server/notifications/events.js';
import { WebhookOutbox } from '../server/notifications/outbox.js';
import type { Executor } from '../server/storage/executor.js';
import { FakeClock } from './helpers/fake-clock.js';
import { insertProfiles, insertPurchases } from './helpers/events.js';
import { startTestService, type TestService } from './helpers/service.js';

const DATABASE = 't_alerts';
const ADMIN = 'admin-key-0123456789';
const READER = 'reader-key-0123456789';
const API_KEYS = [`ops:admin:${ADMIN}`, `dash:read:sha256:${hashKey(READER).toString('hex')}`].join(',');
const WEBHOOK_ALLOWED_HOSTS = 'hooks.example.com';
const asAdmin = { authorization: `Bearer ${ADMIN}` };
const asReader = { authorization: `Bearer ${READER}` };

const CREATE = `mutation($name: String!, $metric: AlertMetric!, $window: String!, $condition: AlertConditionInput!, $webhookIds: [String!], $filter: CustomerFilter) {
  createAlert(name: $name, metric: $metric, window: $window, condition: $condition, webhookIds: $webhookIds, filter: $filter) {
    id name metric window grain currency condition { kind threshold percent } webhookIds state stateSince
  }
}`;
const EVENTS = `query($alertId: ID!, $first: Int, $after: String) {
  alertEvents(alertId: $alertId, first: $first, after: $after) {
    edges { cursor node { at from to value previousValue intervalLow intervalHigh fromState toState condition webhookIds } }
    pageInfo { hasNextPage endCursor }
  }
}`;

/** A Notifier that keeps what it was given, in order. */
function recordingNotifier() {
  const published: { event: NotificationEvent; payload: Record<string, unknown> }[] = [];
  const notifier: Notifier = {
    publish: async (event, payload) => {
      published.push({ event, payload });
    },
    published: async (events, eventIds) => new Map(published.filter((p) => events.includes(p.event) && eventIds.includes(p.payload.eventId as string)).map((p) => [p.payload.eventId as string, p.payload])),
  };
  return { notifier, published };
}

// ISO weeks of March 2024 (Mondays): W1 [Mar 04, Mar 11), W2 [Mar 11, Mar 18), W3 [Mar 18, Mar 25), W4 [Mar 25, Apr 01).
//        purchases per customer            customers  repeat (>= 2)  repeatPurchaseRate  orders
//   W1   a 2, b 2, c 1                     3          2              2/3                 5
//   W2   a 2, b 1, c 1, d 1                4          1              1/4                 5
//   W3   a 1, b 1                          2          0              0                   2
//   W4   a 2, b 2, c 1                     3          2              2/3                 5
// Months: January o1..o20 twice each (rate 20/20 = 1); February f1..f20 once, f1 and f2 twice (2/20 = 0.1);
// no purchase from Feb 17 to Mar 03, so the weekly windows before W1 are empty.
const WEEKS: Record<string, [string, number][]> = {
  '2024-03-05': [['a', 2], ['b', 2], ['c', 1]],
  '2024-03-12': [['a', 2], ['b', 1], ['c', 1], ['d', 1]],
  '2024-03-19': [['a', 1], ['b', 1]],
  '2024-03-26': [['a', 2], ['b', 2], ['c', 1]],
};

describe('KPI alerts', () => {
  let svc: TestService;
  const appNow = new Date('2024-02-26T09:00:00.000Z');

  beforeAll(async () => {
    // The service's own schedulers stay still on a clock nobody moves; the tests run their own.
    svc = await startTestService(DATABASE, { API_KEYS, WEBHOOK_ALLOWED_HOSTS }, () => appNow, new FakeClock(appNow.getTime()));
    const rows: [string, string][] = [];
    for (const [day, counts] of Object.entries(WEEKS)) {
      for (const [customer, n] of counts) for (let i = 0; i < n; i++) rows.push([customer, `${day}T1${i}:00:00Z`]);
    }
    for (let i = 1; i <= 20; i++) {
      rows.push([`o${i}`, '2024-01-08T10:00:00Z'], [`o${i}`, '2024-01-22T10:00:00Z'], [`f${i}`, '2024-02-06T10:00:00Z']);
      if (i <= 2) rows.push([`f${i}`, '2024-02-13T10:00:00Z']);
    }
    await insertPurchases(svc.exec, rows.map(([c, at]) => [c, at]));
  });
  afterAll(async () => {
    await svc?.stop();
  });

  async function create(vars: Record<string, unknown>): Promise<{ id: string } & Record<string, unknown>> {
    const r = await svc.gql(CREATE, vars, asAdmin);
    expect(r.errors).toBeUndefined();
    return r.data.createAlert;
  }

  async function history(alertId: string) {
    const r = await svc.gql(EVENTS, { alertId }, asReader);
    expect(r.errors).toBeUndefined();
    return r.data.alertEvents.edges.map((e: { node: Record<string, unknown> }) => e.node).reverse();
  }

  it('notifies each transition once, OK -> FIRING -> OK, with one history row each and no repeat while firing', async () => {
    const below = await create({ name: 'repeat below half', metric: 'repeatPurchaseRate', window: 'last-week@weekly', condition: { kind: 'BELOW', threshold: 0.5 }, webhookIds: ['wh-1', 'wh-2'] });
    expect(below).toEqual({
      id: below.id, name: 'repeat below half', metric: 'repeatPurchaseRate', window: 'last-week@weekly', grain: 'MONTH', currency: null,
      condition: { kind: 'BELOW', threshold: 0.5, percent: null }, webhookIds: ['wh-1', 'wh-2'], state: 'OK', stateSince: null,
    });
    const drops = await create({ name: 'orders halve', metric: 'orders', window: 'last-week@weekly', condition: { kind: 'DROPS_BY', percent: 50 } });
    const outside = await create({ name: 'repeat shift', metric: 'repeatPurchaseRate', window: 'last-month@monthly', condition: { kind: 'OUTSIDE_INTERVAL' } });

    const clock = new FakeClock(Date.parse('2024-02-26T10:00:00Z'));
    const { notifier, published } = recordingNotifier();
    const scheduler: AlertScheduler = startAlertScheduler({ exec: svc.exec, log: createLogger('silent'), clock, notifier, reportingCurrency: undefined, grossMargin: 1 });
    const at = async (iso: string) => {
      clock.set(iso);
      await scheduler.settled();
    };
    try {
      // Mar 01, a monthly boundary: February's rate 2/20 has the Wilson interval [0.02787, 0.30103];
      // January's 20/20 lies outside it.
      await at('2024-03-01T00:00:00.000Z');
      expect(published.map((p) => [p.event, p.payload.alertId])).toEqual([['alert.firing', outside.id]]);
      const firing = published[0]!.payload;
      expect(firing).toMatchObject({
        eventId: `${outside.id}:after:start`, name: 'repeat shift', state: 'FIRING', previousState: 'OK', metric: 'repeatPurchaseRate',
        condition: 'OUTSIDE_INTERVAL', window: 'last-month@monthly', from: '2024-02-01T00:00:00.000Z', to: '2024-03-01T00:00:00.000Z',
        evaluatedAt: '2024-03-01T00:00:00.000Z', value: 0.1, previousValue: 1, currency: 'USD', webhookIds: [],
      });
      expect((firing.interval as { low: number }).low).toBeCloseTo(0.0278664812, 9);
      expect((firing.interval as { high: number }).high).toBeCloseTo(0.3010336452, 9);

      // Mar 04 and Mar 11: the weekly windows before W1 are empty (no rate, no change from 0 orders): nothing changes.
      await at('2024-03-04T00:00:00.000Z');
      await at('2024-03-11T00:00:00.000Z');
      expect(published).toHaveLength(1);

      // Mar 18: W2's rate 1/4 < 0.5 fires; orders 5 against 5 do not drop.
      await at('2024-03-18T00:00:00.000Z');
      expect(published.slice(1).map((p) => [p.event, p.payload.alertId, p.payload.value, p.payload.previousValue])).toEqual([['alert.firing', below.id, 0.25, 2 / 3]]);
      expect(published[1]!.payload.webhookIds).toEqual(['wh-1', 'wh-2']);

      // Mar 25: W3's rate 0 still fires (no second notification); orders 2 against 5 drop by 60% >= 50%.
      await at('2024-03-25T00:00:00.000Z');
      expect(published.slice(2).map((p) => [p.event, p.payload.alertId, p.payload.value, p.payload.previousValue])).toEqual([['alert.firing', drops.id, 2, 5]]);

      // Apr 01 (a Monday and a month start): W4's rate 2/3 resolves, orders 5 against 2 resolve; March's
      // rate 3/4 has the interval [0.30064, 0.95441], February's 0.1 still lies outside: no repeat.
      await at('2024-04-01T00:00:00.000Z');
      // The two share a window and are evaluated one after the other, in no set order.
      const resolved = published.slice(3).map((p) => [p.event, p.payload.alertId, p.payload.state, p.payload.previousState]);
      expect(resolved.sort((x, y) => String(x[1]).localeCompare(String(y[1])))).toEqual(
        [['alert.resolved', below.id, 'OK', 'FIRING'], ['alert.resolved', drops.id, 'OK', 'FIRING']].sort((x, y) => x[1]!.localeCompare(y[1]!)),
      );
      expect(published).toHaveLength(5);

      expect(await history(below.id)).toEqual([
        { at: '2024-03-18T00:00:00.000Z', from: '2024-03-11T00:00:00.000Z', to: '2024-03-18T00:00:00.000Z', value: 0.25, previousValue: 2 / 3, intervalLow: expect.closeTo(0.0455872608, 9), intervalHigh: expect.closeTo(0.6993581574, 9), fromState: 'OK', toState: 'FIRING', condition: 'BELOW 0.5', webhookIds: ['wh-1', 'wh-2'] },
        { at: '2024-04-01T00:00:00.000Z', from: '2024-03-25T00:00:00.000Z', to: '2024-04-01T00:00:00.000Z', value: 2 / 3, previousValue: 0, intervalLow: expect.any(Number), intervalHigh: expect.any(Number), fromState: 'FIRING', toState: 'OK', condition: 'BELOW 0.5', webhookIds: ['wh-1', 'wh-2'] },
      ]);
      expect((await history(drops.id)).map((e: Record<string, unknown>) => [e.at, e.value, e.previousValue, e.intervalLow, e.toState, e.condition])).toEqual([
        ['2024-03-25T00:00:00.000Z', 2, 5, null, 'FIRING', 'DROPS_BY 50%'],
        ['2024-04-01T00:00:00.000Z', 5, 2, null, 'OK', 'DROPS_BY 50%'],
      ]);
      expect((await history(outside.id)).map((e: Record<string, unknown>) => [e.at, e.toState])).toEqual([['2024-03-01T00:00:00.000Z', 'FIRING']]);

      // Created in the same millisecond: listed in the order of their ids.
      const listed = await svc.gql('{ alerts { id state stateSince } }', {}, asReader);
      expect(listed.data.alerts).toHaveLength(3);
      expect(listed.data.alerts).toEqual(expect.arrayContaining([
        { id: below.id, state: 'OK', stateSince: '2024-04-01T00:00:00.000Z' },
        { id: drops.id, state: 'OK', stateSince: '2024-04-01T00:00:00.000Z' },
        { id: outside.id, state: 'FIRING', stateSince: '2024-03-01T00:00:00.000Z' },
      ]));
    } finally {
      await scheduler.stop();
      for (const a of [below, drops, outside]) await svc.gql('mutation($id: ID!) { deleteAlert(id: $id) }', { id: a.id }, asAdmin);
    }
  });

  it('groups the alerts of one window: five alerts read four windows', async () => {
    const weekly = { window: 'last-week@weekly', condition: { kind: 'ABOVE', threshold: 1e9 } };
    const ids = [
      (await create({ ...weekly, name: 'w1', metric: 'orders' })).id,
      (await create({ ...weekly, name: 'w2', metric: 'customers' })).id,
      (await create({ ...weekly, name: 'w3', metric: 'revenue' })).id,
      // At Apr 01 its window is W4 too, and its previous window W3.
      (await create({ name: 'd1', metric: 'orders', window: 'trailing-7d@daily', condition: { kind: 'ABOVE', threshold: 1e9 } })).id,
      (await create({ name: 'm1', metric: 'orders', window: 'last-month@monthly', condition: { kind: 'ABOVE', threshold: 1e9 } })).id,
    ];
    const deps = { exec: svc.exec, log: createLogger('silent'), clock: new FakeClock(0), notifier: recordingNotifier().notifier, reportingCurrency: undefined, grossMargin: 1 };
    // W4 and W3 for four alerts, March and February for one.
    expect(await evaluateAlerts(deps, new Date('2024-03-31T23:00:00Z'), new Date('2024-04-01T00:00:00Z'))).toEqual({ evaluated: 5, transitions: 0, windows: 4, failed: 0 });
    // An hour later no boundary has come: nothing is due.
    expect(await evaluateAlerts(deps, new Date('2024-04-01T00:00:00Z'), new Date('2024-04-01T01:00:00Z'))).toEqual({ evaluated: 0, transitions: 0, windows: 0, failed: 0 });
    for (const id of ids) await svc.gql('mutation($id: ID!) { deleteAlert(id: $id) }', { id }, asAdmin);
  });

  it('pages the history with cursors, newest first', async () => {
    const a = await create({ name: 'rises', metric: 'orders', window: 'last-week@weekly', condition: { kind: 'RISES_BY', percent: 100 } });
    const clock = new FakeClock(Date.parse('2024-03-20T10:00:00Z'));
    const scheduler = startAlertScheduler({ exec: svc.exec, log: createLogger('silent'), clock, notifier: recordingNotifier().notifier, reportingCurrency: undefined, grossMargin: 1 });
    try {
      // Mar 25: 2 against 5 orders, no rise; Apr 01: 5 against 2 is +150% (fires); Apr 08: 0 against 5 resolves.
      for (const day of ['2024-03-25', '2024-04-01', '2024-04-08']) {
        clock.set(`${day}T00:00:00.000Z`);
        await scheduler.settled();
      }
    } finally {
      await scheduler.stop();
    }
    const first = await svc.gql(EVENTS, { alertId: a.id, first: 1 }, asReader);
    expect(first.data.alertEvents.edges.map((e: { node: { at: string; toState: string } }) => [e.node.at, e.node.toState])).toEqual([['2024-04-08T00:00:00.000Z', 'OK']]);
    expect(first.data.alertEvents.pageInfo.hasNextPage).toBe(true);
    const second = await svc.gql(EVENTS, { alertId: a.id, first: 1, after: first.data.alertEvents.pageInfo.endCursor }, asReader);
    expect(second.data.alertEvents.edges.map((e: { node: { at: string; toState: string } }) => [e.node.at, e.node.toState])).toEqual([['2024-04-01T00:00:00.000Z', 'FIRING']]);
    expect(second.data.alertEvents.pageInfo.hasNextPage).toBe(false);
    const bad = await svc.gql(EVENTS, { alertId: a.id, after: 'nope' }, asReader);
    expect(bad.errors[0]).toMatchObject({ message: '"after" is not a cursor returned by alertEvents', extensions: { code: 'BAD_USER_INPUT', field: 'after' } });
    await svc.gql('mutation($id: ID!) { deleteAlert(id: $id) }', { id: a.id }, asAdmin);
  });

  it('stores a transition that was published when a crash kept it from being stored, and resolves it from there', async () => {
    const a = await create({ name: 'rises again', metric: 'orders', window: 'last-week@weekly', condition: { kind: 'RISES_BY', percent: 100 } });
    const hook = await svc.gql('mutation { createWebhook(url: "https://hooks.example.com/a", events: ["alert.firing", "alert.resolved"]) { id } }', {}, asAdmin);
    expect(hook.errors).toBeUndefined();
    // The process dies between publishing and storing: every insert into the history fails.
    const crashing = new Proxy(svc.exec, {
      get(target, key) {
        if (key === 'insert') return (table: string, ...rest: unknown[]) => (table === 'alert_events' ? Promise.reject(new Error('killed')) : (target.insert as (...a: unknown[]) => unknown)(table, ...rest));
        const v = Reflect.get(target, key) as unknown;
        return typeof v === 'function' ? v.bind(target) : v;
      },
    }) as Executor;
    const outbox = new WebhookOutbox(svc.exec, () => appNow);
    const deps = (exec: Executor) => ({ exec, log: createLogger('silent'), clock: new FakeClock(0), notifier: outbox, reportingCurrency: undefined, grossMargin: 1 });
    const sent = async () =>
      (await svc.exec.rows<{ event: string; eventId: string; state: string }>(
        { query: "SELECT event, JSONExtractString(body, 'data', 'eventId') AS eventId, JSONExtractString(body, 'data', 'state') AS state FROM {db:Identifier}.webhook_deliveries WHERE seq = 0 AND startsWith(eventId, {id:String}) ORDER BY eventId DESC", query_params: { id: a.id } },
        { requestId: 't' },
      )).map((r) => [r.event, r.eventId, r.state]);
    try {
      // Apr 01: 5 orders against 2 is +150%: published, never stored.
      expect(await evaluateAlerts(deps(crashing), new Date('2024-03-31T23:00:00Z'), new Date('2024-04-01T00:00:00Z'))).toMatchObject({ evaluated: 1, transitions: 0, failed: 1 });
      expect(await sent()).toEqual([['alert.firing', `${a.id}:after:start`, 'FIRING']]);
      expect(await history(a.id)).toEqual([]);
      // Apr 08: 0 against 5 no longer rises. The receiver was told FIRING, so the store takes it from
      // what was published and the alert resolves from there, once.
      expect(await evaluateAlerts(deps(svc.exec), new Date('2024-04-07T23:00:00Z'), new Date('2024-04-08T00:00:00Z'))).toMatchObject({ evaluated: 1, transitions: 1, failed: 0 });
      expect(await sent()).toEqual([
        ['alert.firing', `${a.id}:after:start`, 'FIRING'],
        ['alert.resolved', `${a.id}:after:2024-04-01T00:00:00.000Z`, 'OK'],
      ]);
      expect((await history(a.id)).map((e: Record<string, unknown>) => [e.at, e.value, e.previousValue, e.fromState, e.toState])).toEqual([
        ['2024-04-01T00:00:00.000Z', 5, 2, 'OK', 'FIRING'],
        ['2024-04-08T00:00:00.000Z', 0, 5, 'FIRING', 'OK'],
      ]);
      // Nothing left to take: the next boundary publishes and stores nothing.
      expect(await evaluateAlerts(deps(svc.exec), new Date('2024-04-14T23:00:00Z'), new Date('2024-04-15T00:00:00Z'))).toMatchObject({ evaluated: 1, transitions: 0, failed: 0 });
      expect(await sent()).toHaveLength(2);
    } finally {
      await svc.gql('mutation($id: ID!) { deleteAlert(id: $id) }', { id: a.id }, asAdmin);
      await svc.gql('mutation($id: ID!) { deleteWebhook(id: $id) }', { id: hook.data.createWebhook.id }, asAdmin);
    }
  });

  it('updates and deletes definitions; a deleted alert is neither listed nor evaluated', async () => {
    const a = await create({ name: 'before', metric: 'customers', window: 'trailing-7d@daily', condition: { kind: 'ABOVE', threshold: 100 } });
    const updated = await svc.gql(
      `mutation($id: ID!) { updateAlert(id: $id, name: "after", metric: customers, window: "trailing-7d@daily", currency: "EUR",
        condition: { kind: ABOVE, threshold: 1 }, filter: { country: ["FR"] }) { id name currency condition { threshold } filter { country } } }`,
      { id: a.id },
      asAdmin,
    );
    expect(updated.data.updateAlert).toEqual({ id: a.id, name: 'after', currency: 'EUR', condition: { threshold: 1 }, filter: { country: ['FR'] } });
    expect((await svc.gql('{ alerts { id name } }', {}, asReader)).data.alerts).toEqual([{ id: a.id, name: 'after' }]);

    expect((await svc.gql('mutation($id: ID!) { deleteAlert(id: $id) }', { id: a.id }, asAdmin)).data).toEqual({ deleteAlert: true });
    expect((await svc.gql('{ alerts { id } }', {}, asReader)).data.alerts).toEqual([]);
    const again = await svc.gql('mutation($id: ID!) { deleteAlert(id: $id) }', { id: a.id }, asAdmin);
    expect(again.errors[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field: 'id' } });
    expect(again.errors[0].message).toBe(`"id": there is no alert "${a.id}" (never created, or deleted)`);

    // Customers of Mar 19..25 (2) are above 1: it would fire were it not deleted.
    const clock = new FakeClock(Date.parse('2024-03-25T10:00:00Z'));
    const { notifier, published } = recordingNotifier();
    const scheduler = startAlertScheduler({ exec: svc.exec, log: createLogger('silent'), clock, notifier, reportingCurrency: undefined, grossMargin: 1 });
    clock.set('2024-03-26T00:00:00.000Z');
    await scheduler.settled();
    await scheduler.stop();
    expect(clock.fired).toBe(1);
    expect(published).toEqual([]);
  });

  it('is evaluated only by the instance that may write, over the customers of its filter', async () => {
    const a = await create({ name: 'any customer', metric: 'customers', window: 'trailing-7d@daily', condition: { kind: 'ABOVE', threshold: 0 } });
    const run = async (mayWrite?: (requestId: string) => void) => {
      const clock = new FakeClock(Date.parse('2024-03-20T10:00:00Z'));
      const { notifier, published } = recordingNotifier();
      const scheduler = startAlertScheduler({ exec: svc.exec, log: createLogger('silent'), clock, notifier, reportingCurrency: undefined, grossMargin: 1, mayWrite });
      clock.set('2024-03-21T00:00:00.000Z');
      await scheduler.settled();
      await scheduler.stop();
      return published.map((p) => [p.event, p.payload.value]);
    };
    expect(
      await run(() => {
        throw new Error('standby: another instance holds the writer lease');
      }),
    ).toEqual([]);
    expect(await history(a.id)).toEqual([]);
    // Customers in [Mar 14, Mar 21): a and b (Mar 19).
    expect(await run()).toEqual([['alert.firing', 2]]);
    await svc.gql('mutation($id: ID!) { deleteAlert(id: $id) }', { id: a.id }, asAdmin);

    // With a filter: of a and b only a is French.
    await insertProfiles(svc.exec, [['a', '2024-01-01T00:00:00Z', 'FR', null, null], ['b', '2024-01-01T00:00:00Z', 'DE', null, null]]);
    const fr = await create({ name: 'French', metric: 'customers', window: 'trailing-7d@daily', condition: { kind: 'ABOVE', threshold: 0 }, filter: { country: ['FR'] } });
    expect(await run()).toEqual([['alert.firing', 1]]);
    await svc.gql('mutation($id: ID!) { deleteAlert(id: $id) }', { id: fr.id }, asAdmin);
  });

  it('refuses bad definitions, naming the argument and why', async () => {
    const base = { name: 'x', metric: 'repeatPurchaseRate', window: 'last-week@weekly', condition: { kind: 'BELOW', threshold: 0.5 } };
    const refusal = async (vars: Record<string, unknown>) => {
      const r = await svc.gql(CREATE, { ...base, ...vars }, asAdmin);
      expect(r.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
      return [r.errors[0].extensions.field, r.errors[0].message];
    };
    expect(await refusal({ metric: 'orders', condition: { kind: 'OUTSIDE_INTERVAL' } })).toEqual([
      'condition.kind',
      '"condition.kind" OUTSIDE_INTERVAL needs a rate with a Wilson interval (repeatPurchaseRate, retentionRate); orders has none',
    ]);
    expect(await refusal({ condition: { kind: 'DROPS_BY', percent: 0 } })).toEqual(['condition.percent', '"condition.percent" must be greater than 0 for DROPS_BY (got 0)']);
    expect(await refusal({ condition: { kind: 'RISES_BY', percent: -5 } })).toEqual(['condition.percent', '"condition.percent" must be greater than 0 for RISES_BY (got -5)']);
    expect(await refusal({ condition: { kind: 'DROPS_BY' } })).toEqual([
      'condition.percent',
      '"condition.percent" is required for DROPS_BY: the change against the previous window, in percent (got null)',
    ]);
    expect(await refusal({ condition: { kind: 'ABOVE' } })).toEqual(['condition.threshold', '"condition.threshold" is required for ABOVE: the value the metric is compared with (got null)']);
    expect(await refusal({ condition: { kind: 'BELOW', threshold: 1, percent: 5 } })).toEqual([
      'condition.percent',
      '"condition.percent" applies to DROPS_BY and RISES_BY only, not to BELOW; leave it out',
    ]);
    expect(await refusal({ window: 'last-fortnight@weekly' })).toEqual([
      'window',
      '"window" "last-fortnight@weekly": unknown window "last-fortnight" (expected trailing-<N>h, trailing-<N>d, trailing-<N>w or last-hour, last-day, last-week, last-month, last-quarter, last-year); ' +
        'window is trailing-<N>h|d|w or last-hour|last-day|last-week|last-month|last-quarter|last-year and cadence is hourly|daily|weekly|monthly|quarterly|yearly (e.g. "last-week@weekly")',
    ]);
    expect((await refusal({ window: 'last-week' }))[1]).toMatch(/^"window" "last-week": missing "@cadence"; /);
    expect(await refusal({ metric: 'referralConversionRate', filter: { country: ['FR'] } })).toEqual([
      'filter',
      '"filter" cannot apply to referralConversionRate: its KPI counts every customer; leave the filter out',
    ]);
    expect((await refusal({ filter: { country: ['France'] } }))[0]).toBe('filter.country');
    expect(await refusal({ name: '  ' })).toEqual(['name', '"name" must be 1 to 200 characters, not blank (got "  ")']);
    // Not a kpiSnapshot field: the enum refuses it before any resolver runs.
    const unknown = await svc.gql(CREATE, { ...base, metric: 'revenue; DROP TABLE alerts' }, asAdmin);
    expect(unknown.errors[0].message).toMatch(/Value "revenue; DROP TABLE alerts" does not exist in "AlertMetric" enum/);
    expect((await svc.gql('{ alerts { id } }', {}, asReader)).data.alerts).toEqual([]);
  });

  it('lets a read key list alerts and history, and only an admin key change them', async () => {
    const vars = { name: 'x', metric: 'orders', window: 'last-week@weekly', condition: { kind: 'ABOVE', threshold: 1 } };
    const denied = await svc.gql(CREATE, vars, asReader);
    expect(denied.errors[0]).toMatchObject({ extensions: { code: 'FORBIDDEN' } });
    expect(denied.errors[0].message).toBe('This API key lacks the "admin" scope');
    const a = await create(vars);
    for (const mutation of [`mutation { deleteAlert(id: "${a.id}") }`, `mutation { updateAlert(id: "${a.id}", name: "y", metric: orders, window: "last-week@weekly", condition: { kind: ABOVE, threshold: 2 }) { id } }`]) {
      expect((await svc.gql(mutation, {}, asReader)).errors[0]).toMatchObject({ extensions: { code: 'FORBIDDEN' } });
    }
    expect((await svc.gql('{ alerts { id name } }', {}, asReader)).data.alerts).toEqual([{ id: a.id, name: 'x' }]);
    expect((await svc.gql(EVENTS, { alertId: a.id }, asReader)).data.alertEvents).toEqual({ edges: [], pageInfo: { hasNextPage: false, endCursor: null } });
    await svc.gql('mutation($id: ID!) { deleteAlert(id: $id) }', { id: a.id }, asAdmin);
  });
});
