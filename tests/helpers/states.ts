import type { SqlQuery } from '../../server/storage/executor.js';
import { clvSql } from '../../loaders/clv.sql.js';
import { newCustomersSql } from '../../loaders/customers.sql.js';
import { Grain } from '../../loaders/grain.js';
import { referralCohortsSql } from '../../loaders/referral.sql.js';
import { repeatPurchaseSql } from '../../loaders/repeat-purchase.sql.js';
import { retentionCohortsSql } from '../../loaders/retention.sql.js';
import type { Source } from '../../loaders/sql.js';

/**
 * Every pre-aggregated state next to the same grouping computed here, in TypeScript, from the
 * raw rows: an independent method, not the views' SQL. States are read under FINAL, their
 * per-insert pieces (repeated months, partial sales per month and currency) folded the same way.
 */
export type Rows = <T>(sql: string) => Promise<T[]>;

const SCALE = 10_000n;
/** A Decimal(…, 4) as the engine prints it, in ten-thousandths. */
function units(text: string): bigint {
  const negative = text.startsWith('-');
  const [int, frac = ''] = text.replace('-', '').split('.');
  const v = BigInt(int!) * SCALE + BigInt((frac + '0000').slice(0, 4));
  return negative ? -v : v;
}

interface Activity {
  first_at: string;
  last_at: string;
  /** One entry per purchase (migration 0014), sorted. */
  months: number[];
  sales: string[];
}

function activityOf(map: Map<string, { first_at: string; last_at: string; months: number[]; sales: Map<string, { amount: bigint; orders: number }> }>) {
  const out: Record<string, Activity> = {};
  for (const [id, a] of [...map].sort(([x], [y]) => (x < y ? -1 : 1))) {
    out[id] = {
      first_at: a.first_at,
      last_at: a.last_at,
      months: [...a.months].sort((x, y) => x - y),
      sales: [...a.sales].map(([k, s]) => `${k} ${s.amount} ${s.orders}`).sort(),
    };
  }
  return out;
}

type Folding = Map<string, { first_at: string; last_at: string; months: number[]; sales: Map<string, { amount: bigint; orders: number }> }>;

function fold(map: Folding, id: string, first: string, last: string, month: number, currency: string, amount: bigint, orders: number) {
  let a = map.get(id);
  if (!a) map.set(id, (a = { first_at: first, last_at: last, months: [], sales: new Map() }));
  if (first < a.first_at) a.first_at = first;
  if (last > a.last_at) a.last_at = last;
  const key = `${month} ${currency}`;
  const s = a.sales.get(key) ?? { amount: 0n, orders: 0 };
  a.sales.set(key, { amount: s.amount + amount, orders: s.orders + orders });
}

export async function customerActivity(rows: Rows, db: string): Promise<{ state: Record<string, Activity>; raw: Record<string, Activity> }> {
  const raw: Folding = new Map();
  for (const r of await rows<{ c: string; at: string; y: number; m: number; amount: string; currency: string }>(
    `SELECT customer_id AS c, toString(occurred_at) AS at, toYear(occurred_at) AS y, toMonth(occurred_at) AS m, toString(amount) AS amount, toString(currency) AS currency FROM ${db}.purchases`,
  )) {
    fold(raw, r.c, r.at, r.at, r.y * 12 + r.m - 1, r.currency, units(r.amount), 1);
    raw.get(r.c)!.months.push(r.y * 12 + r.m - 1);
  }
  const state: Folding = new Map();
  for (const r of await rows<{ c: string; first: string; last: string; months: number[]; sales: [number, string, string, number][] }>(
    `SELECT customer_id AS c, toString(first_at) AS first, toString(last_at) AS last, months,
            arrayMap(s -> (s.month, toString(s.currency), toString(s.amount), s.orders), sales) AS sales
     FROM ${db}.customer_activity FINAL`,
  )) {
    for (const [month, currency, amount, orders] of r.sales) fold(state, r.c, r.first, r.last, month, currency, units(amount), orders);
    state.get(r.c)!.months.push(...r.months);
  }
  return { state: activityOf(state), raw: activityOf(raw) };
}

interface Referral {
  started_at: string;
  last_at: string;
  clicked: number;
  signed_up: number;
  referred: string;
}

export async function referralState(rows: Rows, db: string): Promise<{ state: Record<string, Referral>; raw: Record<string, Referral> }> {
  const events = await rows<{ id: string; stage: string; who: string | null; at: string }>(
    `SELECT referral_id AS id, toString(stage) AS stage, referred_customer_id AS who, toString(occurred_at) AS at FROM ${db}.referrals`,
  );
  const raw: Record<string, Referral & { namedAt?: string; namedWho?: string }> = {};
  for (const e of events.sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0))) {
    const r = (raw[e.id] ??= { started_at: e.at, last_at: e.at, clicked: 0, signed_up: 0, referred: '' });
    if (e.at < r.started_at) r.started_at = e.at;
    if (e.at > r.last_at) r.last_at = e.at;
    if (e.stage !== 'INVITED') r.clicked = 1;
    if (e.stage === 'SIGNED_UP') r.signed_up = 1;
    // the earliest event naming someone; ties by the smaller id
    if (e.who !== null && (r.namedAt === undefined || e.at < r.namedAt || (e.at === r.namedAt && e.who < r.namedWho!))) {
      r.namedAt = e.at;
      r.namedWho = e.who;
    }
  }
  const rawOut: Record<string, Referral> = {};
  for (const [id, { namedAt, namedWho, ...r }] of Object.entries(raw)) rawOut[id] = { ...r, referred: namedAt ? `0 ${namedAt} ${namedWho}` : `1 ${r.started_at} ` };
  const state: Record<string, Referral> = {};
  for (const r of await rows<Referral & { id: string }>(
    // tupleElement(): under FINAL a subcolumn (`referred.none`) would skip the merge (loaders/referral.sql.ts)
    `SELECT referral_id AS id, toString(started_at) AS started_at, toString(last_at) AS last_at, clicked, signed_up,
            concat(toString(tupleElement(referred, 'none')), ' ', toString(tupleElement(referred, 'at')), ' ', tupleElement(referred, 'customer_id')) AS referred
     FROM ${db}.referral_state FINAL ORDER BY referral_id`,
  )) {
    const { id, ...rest } = r;
    state[id] = rest;
  }
  return { state, raw: rawOut };
}

type Entry = [string, string, string];
const entryText = (e: Entry) => `${e[0]} ${e[1]} ${e[2]}`;

/**
 * refund_orders (migration 0014) next to its rows computed here from the raw tables: per
 * (customer, currency, order key) that has both a purchase and a refund, every purchase and every
 * refund of it, as sorted "at event_id amount" texts.
 */
export async function refundOrders(rows: Rows, db: string): Promise<{ state: Record<string, { purchases: string[]; refunds: string[] }>; raw: Record<string, { purchases: string[]; refunds: string[] }> }> {
  const purchases = await rows<{ k: string; e: Entry }>(
    `SELECT concat(customer_id, ' ', toString(currency), ' ', ifNull(order_id, event_id)) AS k, (toString(occurred_at), event_id, toString(amount)) AS e FROM ${db}.purchases`,
  );
  const refunds = await rows<{ k: string; e: Entry }>(
    `SELECT concat(customer_id, ' ', toString(currency), ' ', order_id) AS k, (toString(occurred_at), event_id, toString(amount)) AS e FROM ${db}.refunds`,
  );
  const group = (list: { k: string; e: Entry }[]) => {
    const m = new Map<string, string[]>();
    for (const { k, e } of list) m.set(k, [...(m.get(k) ?? []), entryText(e)]);
    return m;
  };
  const p = group(purchases);
  const r = group(refunds);
  const raw: Record<string, { purchases: string[]; refunds: string[] }> = {};
  for (const k of [...r.keys()].sort()) if (p.has(k)) raw[k] = { purchases: p.get(k)!.sort(), refunds: r.get(k)!.sort() };
  const state: Record<string, { purchases: string[]; refunds: string[] }> = {};
  for (const s of await rows<{ k: string; p: Entry[]; r: Entry[] }>(
    `SELECT concat(customer_id, ' ', toString(currency), ' ', order_key) AS k,
            arrayMap(x -> (toString(x.1), x.2, toString(x.3)), purchases) AS p, arrayMap(x -> (toString(x.1), x.2, toString(x.3)), refunds) AS r
     FROM ${db}.refund_orders FINAL ORDER BY k`,
  )) {
    state[s.k] = { purchases: s.p.map(entryText).sort(), refunds: s.r.map(entryText).sort() };
  }
  return { state, raw };
}

/**
 * A few KPIs built on both sources ('auto' reads the states wherever they answer, 'raw' only the
 * raw tables), for a window and asOf covering `from`..`to`: each pair must be equal.
 */
export function kpiPairs(from: Date, to: Date, asOf: Date): [string, (s: Source) => SqlQuery][] {
  const cohort = { grain: Grain.MONTH, from, to, periods: 6, asOf, timezone: 'UTC', filter: null };
  return [
    ['retentionCohorts', (s) => retentionCohortsSql(cohort, s)],
    ['clv', (s) => clvSql({ ...cohort, currency: 'USD', margin: 1 }, 6, s)],
    ['repeatPurchase', (s) => repeatPurchaseSql({ asOf, filter: null }, [{ from, to }], s)],
    ['newCustomers', (s) => newCustomersSql({ asOf, filter: null }, [{ from, to }], s)],
    ['referralCohorts', (s) => referralCohortsSql({ grain: Grain.MONTH, from, to, attributionWindowDays: 90, asOf, timezone: 'UTC' }, s)],
  ];
}
