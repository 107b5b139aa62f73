/**
 * A deterministic bulk store for benchmarks, generated inside ClickHouse: `INSERT ... SELECT`
 * from `numbers()` into the same raw tables ingestion writes, so the materialized views fill
 * the pre-aggregates exactly as they do for POST /v1/events. Every value is a pure function of
 * (seed, row number), so two runs with the same options hold the same rows.
 *
 * Customer c is acquired at a(c), spread evenly over [start, end); their first purchase is at
 * a(c) and every other purchase of theirs falls after it (an exponential delay folded into
 * what is left of the window), so cohorts shrink month by month like a real store's.
 *
 * Refunds (issue 15), drawn per purchase from its event id: 2% of orders cancelled (half in
 * one refund of the amount, half in two that add up to it), 1% refunded 10-60%, each refund
 * uniformly within 60 days of the order and before the end.
 *
 * Programs (issue 18): a loyalty program of five events per member (JOINED silver, two
 * POINTS_EARNED, then a TIER_CHANGED or a redemption, then a redemption or, for one in ten, a
 * LEFT), members spread over every fifth customer; follow-up touches in ten campaigns, each
 * assignment a HELD_OUT (20%) or a SENT followed by nothing, an OPENED, or an OPENED and a
 * CLICKED.
 */
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../server/config.js';
import { createLogger } from '../server/logger.js';
import { createExecutor } from '../server/service.js';
import { openStorage } from '../server/storage/client.js';
import type { Executor } from '../server/storage/executor.js';
import { migrate } from '../server/storage/migrate.js';

export interface BulkOptions {
  customers: number;
  purchases: number;
  surveys: number;
  referralEvents: number;
  /** Loyalty events, five per member. */
  loyaltyEvents: number;
  /** Campaign assignments: about 1.72 touch events each. */
  touchAssignments: number;
  seed: number;
  start: Date;
  end: Date;
}

/** Bumped whenever the rows change, so that a store filled by an older version is filled again. */
export const BULK_VERSION = 3;

const YEAR_MS = 365.25 * 86_400_000;
export const BULK_END = new Date('2026-11-01T00:00:00Z');

/** Touch events per assignment: 20% one HELD_OUT; of the 80% SENT, 40% nothing more, 30% OPENED, 30% OPENED and CLICKED. */
const TOUCHES_PER_ASSIGNMENT = 0.2 + 0.8 * (0.4 * 1 + 0.3 * 2 + 0.3 * 3);

/**
 * 10 purchases per customer, as the issue's 10M / 1M; surveys at 10% and referral events at 5%
 * of purchases; loyalty events at 10% and touches at about 50% (issue 18: 1M and 5M at 10M).
 */
export function bulkOptions(purchases: number, seed = 1): BulkOptions {
  return {
    customers: Math.max(1, Math.round(purchases / 10)),
    purchases,
    surveys: Math.round(purchases / 10),
    referralEvents: Math.round(purchases / 20),
    loyaltyEvents: 5 * Math.round(purchases / 50),
    touchAssignments: Math.round(purchases / 2 / TOUCHES_PER_ASSIGNMENT),
    seed,
    start: new Date(BULK_END.getTime() - Math.round(3 * YEAR_MS)),
    end: BULK_END,
  };
}

const ctx = { requestId: 'bench-bulk' };

/** Acquisition instant of customer `c` (an SQL expression), in epoch milliseconds. */
const acquiredMs = (c: string) =>
  `({start:Int64} + intDiv(({end:Int64} - {start:Int64}) * ${c}, {customers:UInt64}) + cityHash64({seed:UInt64}, 'a', ${c}) % intDiv({end:Int64} - {start:Int64}, {customers:UInt64}))`;

/** A later instant of customer `c`'s life drawn from row `n`: exponential delay (mean 150 days) folded into [a(c), end). */
const laterMs = (c: string, n: string, salt: string) =>
  `(${acquiredMs(c)} + 1 + toInt64(-log((cityHash64({seed:UInt64}, '${salt}', ${n}) % 1000000 + 1) / 1000001) * 150 * 86400000) % ({end:Int64} - ${acquiredMs(c)} - 1))`;

const customerOf = (n: string, salt: string) => `if(${n} < {customers:UInt64}, ${n}, cityHash64({seed:UInt64}, '${salt}', ${n}) % {customers:UInt64})`;
const customerId = (c: string) => `concat('c', leftPad(toString(${c}), 8, '0'))`;
const instant = (ms: string) => `fromUnixTimestamp64Milli(toInt64(${ms}), 'UTC')`;
const pick = (values: string[], n: string, salt: string) =>
  `[${values.map((v) => `'${v}'`).join(', ')}][1 + cityHash64({seed:UInt64}, '${salt}', ${n}) % ${values.length}]`;

function statements(): string[] {
  return [
    `INSERT INTO {db:Identifier}.customers (event_id, customer_id, occurred_at, country, channel, segment, received_seq)
        SELECT concat('bp-', toString(number)), ${customerId('number')}, ${instant(`${acquiredMs('number')} - 86400000`)},
          ${pick(['US', 'US', 'US', 'GB', 'DE', 'FR', 'CA', 'NL'], 'number', 'country')},
          ${pick(['organic', 'paid', 'paid', 'referral'], 'number', 'channel')},
          ${pick(['consumer', 'consumer', 'consumer', 'consumer', 'smb', 'enterprise'], 'number', 'segment')},
          number + 1
        FROM numbers({customers:UInt64})`,
    `INSERT INTO {db:Identifier}.purchases (event_id, customer_id, occurred_at, amount, currency, order_id, channel)
        SELECT concat('b-', toString(number)), ${customerId('c')},
          ${instant(`if(number < {customers:UInt64}, ${acquiredMs('c')}, ${laterMs('c', 'number', 't')})`)},
          toDecimal64(5 + cityHash64({seed:UInt64}, 'amt', number) % 20000 / 100, 4),
          if(cityHash64({seed:UInt64}, 'cur', number) % 5 = 0, 'EUR', 'USD'),
          concat('o-', toString(number)), ${pick(['web', 'web', 'app', 'phone'], 'number', 'ch')}
        FROM (SELECT number, ${customerOf('number', 'c')} AS c FROM numbers({purchases:UInt64}))`,
    `INSERT INTO {db:Identifier}.survey_responses (event_id, customer_id, survey_id, kind, score, occurred_at, comment)
        SELECT concat('bs-', toString(number)), ${customerId('c')}, ${pick(['onboarding', 'quarterly'], 'number', 'sid')},
          if(number % 5 < 2, 'NPS', 'CSAT'),
          if(number % 5 < 2, cityHash64({seed:UInt64}, 'nps', number) % 11, 1 + cityHash64({seed:UInt64}, 'csat', number) % 5),
          ${instant(laterMs('c', 'number', 'st'))}, NULL
        FROM (SELECT number, cityHash64({seed:UInt64}, 'sc', number) % {customers:UInt64} AS c FROM numbers({surveys:UInt64}))`,
    // Two events per referral: INVITED, then CLICKED or SIGNED_UP; the referred customer is named on both,
    // invited up to 120 days before their first purchase, so most but not all convert within 90 days.
    `INSERT INTO {db:Identifier}.referrals (event_id, referral_id, stage, referrer_id, referred_customer_id, occurred_at, channel)
        SELECT concat('br-', toString(number)), concat('r-', toString(r)), if(number % 2 = 0, 'INVITED', if(r % 3 = 0, 'SIGNED_UP', 'CLICKED')),
          ${customerId('cityHash64({seed:UInt64}, \'referrer\', r) % {customers:UInt64}')}, ${customerId('c')},
          ${instant(`${acquiredMs('c')} - cityHash64({seed:UInt64}, 'lead', r) % (120 * 86400000) + (number % 2) * 3600000`)},
          ${pick(['email', 'link', 'social'], 'r', 'ich')}
        FROM (SELECT number, intDiv(number, 2) AS r, cityHash64({seed:UInt64}, 'referred', intDiv(number, 2)) % {customers:UInt64} AS c
              FROM numbers({referralEvents:UInt64}))`,
    // Cents keep the amounts exact: a part is 1 cent to the amount less 1 cent, a partial refund
    // 10-60% of the amount rounded down to the cent (purchases are 5.00 or more).
    `INSERT INTO {db:Identifier}.refunds (event_id, customer_id, order_id, occurred_at, amount, currency, reason)
        SELECT concat('bf-', event_id, '-', toString(part)), customer_id, order_id,
          ${instant(`t + toInt64(cityHash64({seed:UInt64}, 'rft', event_id, part) % (least(60 * 86400000, {end:Int64} - 1 - t) + 1))`)},
          toDecimal64(cents[part], 4) / 100, currency, NULL
        FROM (
          SELECT event_id, customer_id, order_id, currency, toUnixTimestamp64Milli(occurred_at) AS t, toInt64(amount * 100) AS total,
            cityHash64({seed:UInt64}, 'rf', event_id) % 1000 AS h,
            multiIf(h < 10, [total],
                    h < 20, [1 + toInt64(cityHash64({seed:UInt64}, 'rfs', event_id) % (total - 1)) AS first, total - first],
                    [intDiv(total * toInt64(10 + cityHash64({seed:UInt64}, 'rfp', event_id) % 51), 100)]) AS cents
          FROM {db:Identifier}.purchases WHERE cityHash64({seed:UInt64}, 'rf', event_id) % 1000 < 30)
        ARRAY JOIN arrayEnumerate(cents) AS part`,
    // Member m is customer 5m (mod customers), joins after their acquisition; slot k of their five
    // events lies k fifths of the way from the join to the end, jittered within that fifth, plus k
    // ms, so the events of a member are in slot order and never share an instant.
    `INSERT INTO {db:Identifier}.loyalty_events (event_id, customer_id, occurred_at, action, tier, points)
        SELECT concat('bl-', toString(number)), ${customerId('c')}, ${instant(`j + k + intDiv(({end:Int64} - 1 - j) * (k * 20 + cityHash64({seed:UInt64}, 'lk', number) % 20), 100)`)},
          multiIf(k = 0, 'JOINED', k < 3, 'POINTS_EARNED',
                  k = 3, if(cityHash64({seed:UInt64}, 'lu', m) % 2 = 0, 'TIER_CHANGED', 'POINTS_REDEEMED'),
                  if(cityHash64({seed:UInt64}, 'll', m) % 10 = 0, 'LEFT', 'POINTS_REDEEMED')) AS action,
          multiIf(k = 0, 'silver', action = 'TIER_CHANGED', if(cityHash64({seed:UInt64}, 'lt', m) % 4 = 0, 'platinum', 'gold'), NULL),
          multiIf(action = 'POINTS_EARNED', 100 + cityHash64({seed:UInt64}, 'lp', number) % 901,
                  action = 'POINTS_REDEEMED', 50 + cityHash64({seed:UInt64}, 'lr', number) % 451, NULL)
        FROM (SELECT number, intDiv(number, 5) AS m, number % 5 AS k, m * 5 % {customers:UInt64} AS c, ${laterMs('c', 'm', 'lj')} AS j
              FROM numbers({loyaltyEvents:UInt64}))`,
    // Assignment a: customer, campaign and instant from its number; its stages by an ARRAY JOIN,
    // each a minute after the previous one.
    `INSERT INTO {db:Identifier}.touches (event_id, customer_id, occurred_at, campaign, stage, channel)
        SELECT concat('bt-', toString(a), '-', toString(i)), ${customerId('c')}, ${instant('t + (i - 1) * 60000')},
          concat('campaign-', toString(a % 10)), stages[i], if(a % 10 < 5, 'EMAIL', 'SMS')
        FROM (SELECT number AS a, cityHash64({seed:UInt64}, 'tc', a) % {customers:UInt64} AS c, ${laterMs('c', 'a', 'ta')} AS t,
                cityHash64({seed:UInt64}, 'ts', a) % 100 AS h,
                multiIf(h < 20, ['HELD_OUT'], h < 52, ['SENT'], h < 76, ['SENT', 'OPENED'], ['SENT', 'OPENED', 'CLICKED']) AS stages
              FROM numbers({touchAssignments:UInt64}))
        ARRAY JOIN arrayEnumerate(stages) AS i`,
  ];
}

/** Fills a migrated database with `purchases` bulk purchases unless it already holds that many (a reused bench store). */
export async function ensureBulkStore(exec: Executor, purchases: number): Promise<void> {
  const [stored] = (await exec.rows<{ n: number }>({ query: 'SELECT count() AS n FROM {db:Identifier}.purchases', query_params: {} }, { requestId: 'bench' })) as [{ n: number }];
  if (stored.n === purchases) return;
  const started = performance.now();
  await fillBulkStore(exec, bulkOptions(purchases));
  console.log(`generated in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

/** Fills an empty, migrated database, reporting each table's insert time. */
export async function fillBulkStore(exec: Executor, o: BulkOptions, onStep?: (table: string, ms: number) => void): Promise<void> {
  const query_params = {
    customers: o.customers,
    purchases: o.purchases,
    surveys: o.surveys,
    referralEvents: o.referralEvents,
    loyaltyEvents: o.loyaltyEvents,
    touchAssignments: o.touchAssignments,
    seed: o.seed,
    start: o.start.getTime(),
    end: o.end.getTime(),
  };
  for (const query of statements()) {
    const started = performance.now();
    // One thread keeps insert blocks in row order, so the parts (and the views they feed) do not depend on scheduling.
    await exec.command({ query, query_params }, ctx, { max_threads: 1, max_insert_threads: '1', max_execution_time: 0 });
    onStep?.(/INTO \{db:Identifier\}\.(\w+)/.exec(query)![1]!, performance.now() - started);
  }
}

/**
 * Runs `run` on a fresh database `bench_<name>` under .bench/<name>, migrated and filled with
 * `purchases` bulk purchases: for benchmarks that change the store (an erasure) or add to it
 * (alerts), so each run starts from the same rows. Prints the fill time.
 */
export async function withFreshBulkStore(name: string, purchases: number, run: (exec: Executor) => Promise<void>): Promise<void> {
  const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
  const config = loadConfig({ DATA_DIR: join(root, '.bench', name), CLICKHOUSE_DATABASE: `bench_${name}`, LOG_LEVEL: 'silent' });
  const storage = await openStorage(config);
  const exec = createExecutor(storage, config, createLogger('silent'));
  const c = { requestId: `bench-${name}` };
  try {
    await exec.command('DROP DATABASE IF EXISTS {db:Identifier}', c);
    await exec.command('CREATE DATABASE {db:Identifier}', c);
    await migrate(exec);
    const started = performance.now();
    await fillBulkStore(exec, bulkOptions(purchases));
    console.log(`${name}: ${purchases.toLocaleString('en')} purchases generated in ${((performance.now() - started) / 1000).toFixed(2)} s`);
    await run(exec);
  } finally {
    await storage.close();
  }
}
