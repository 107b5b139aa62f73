import type { Logger } from 'pino';
import { addUnits, startOf } from '../loaders/calendar.js';
import { createLoaders } from '../loaders/index.js';
import { resolveCurrency } from '../loaders/reporting-currency.js';
import { AT_RISK_RUNS } from './notifications/at-risk-list.js';
import type { Notifier } from './notifications/events.js';
import { listWebhooks } from './notifications/webhooks.js';
import type { Executor } from './storage/executor.js';
import type { Clock } from './snapshots/scheduler.js';

/** The most customers atRiskCustomers lists; the job follows that list (docs/webhooks.md, "customer.at_risk"). */
const LISTED = 1000;
/** Customers per customer.at_risk event: a day with many newcomers sends several events. */
const PER_EVENT = 500;
const JOB = 'customer.at_risk';

export interface AtRiskJobDeps {
  exec: Executor;
  log: Logger;
  clock: Clock;
  notifier: Notifier;
  reportingCurrency: string | undefined;
  /** Throws when this instance must not write (a standby, a read replica): the run is left to the writer. */
  mayWrite?: (requestId: string) => void;
}

/**
 * One run: the at-risk list now (atRiskCustomers with its defaults, its first LISTED customers)
 * against the one the last run stored; the newcomers are published, then the list is stored for the
 * next run. A crash between the two publishes them again the next day (at least once). The first
 * run ever only stores its list: with nothing to compare, every customer would look new. Runs
 * only while some webhook subscribes to customer.at_risk, so the list is not computed for nobody.
 */
export async function runAtRiskCheck(deps: AtRiskJobDeps, at: Date): Promise<{ entered: string[] }> {
  const ctx = { requestId: `at-risk-${at.toISOString()}` };
  if ((await listWebhooks(deps.exec, ctx, 'customer.at_risk')).length === 0) return { entered: [] };
  const currency = await resolveCurrency(undefined, { exec: deps.exec, config: { reportingCurrency: deps.reportingCurrency } });
  const list = await createLoaders({ exec: deps.exec, requestId: ctx.requestId }).atRiskCustomers.load({
    calibrationEnd: at,
    currency,
    first: LISTED,
    minHistoricalValue: 0,
    maxProbabilityAlive: 0.5,
  });
  const [last] = await deps.exec.rows<{ customer_ids: string[] }>(
    { query: `SELECT customer_ids FROM {db:Identifier}.${AT_RISK_RUNS} FINAL WHERE job = {job:String}`, query_params: { job: JOB } },
    ctx,
  );
  const before = new Set(last?.customer_ids ?? []);
  const entered = last === undefined ? [] : list.customers.filter((c) => !before.has(c.customerId));
  for (let i = 0; i < entered.length; i += PER_EVENT) {
    const customers = entered.slice(i, i + PER_EVENT).map((c) => ({
      customerId: c.customerId,
      probabilityAlive: c.probabilityAlive,
      valueAtRisk: c.valueAtRisk,
      historicalRevenue: c.historicalRevenue,
      orders: c.orders,
      lastPurchaseAt: c.lastPurchaseAt.toISOString(),
    }));
    await deps.notifier.publish('customer.at_risk', { calibrationEnd: at.toISOString(), currency, maxProbabilityAlive: list.maxProbabilityAlive, customers }, ctx);
  }
  await deps.exec.insert(
    AT_RISK_RUNS,
    [{ job: JOB, ran_at: at.toISOString(), customer_ids: list.customers.map((c) => c.customerId) }],
    ctx,
    { date_time_input_format: 'best_effort' },
  );
  return { entered: entered.map((c) => c.customerId) };
}

/**
 * Runs the check at every UTC midnight on the clock, with the latest midnight passed (a process
 * that slept through several runs once); a failed run is logged and the next day tries again.
 */
export function startAtRiskJob(deps: AtRiskJobDeps): { idle(): Promise<void>; stop(): Promise<void> } {
  let cancel: (() => void) | undefined;
  let running: Promise<void> = Promise.resolve();
  let stopped = false;
  const arm = () => {
    if (stopped) return;
    const next = addUnits('day', startOf('day', deps.clock.now()), 1);
    cancel = deps.clock.setTimer(Math.max(0, next.getTime() - deps.clock.now().getTime()), () => {
      const t = startOf('day', deps.clock.now());
      try {
        deps.mayWrite?.(`at-risk-${t.toISOString()}`);
      } catch (reason) {
        deps.log.info({ reason: reason instanceof Error ? reason.message : String(reason) }, 'customer.at_risk check left to the writer');
        arm();
        return;
      }
      running = runAtRiskCheck(deps, t).then(
        ({ entered }) => deps.log.info({ entered: entered.length }, 'customer.at_risk check done'),
        (err: unknown) => deps.log.error({ err }, 'customer.at_risk check failed'),
      ).finally(arm);
    });
  };
  arm();
  return {
    idle: () => running,
    async stop() {
      stopped = true;
      cancel?.();
      await running;
    },
  };
}
