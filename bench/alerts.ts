/**
 * `npm run bench -- alerts [--purchases N] [--alerts K]`: one evaluation of K alerts (default
 * 100) over a bulk store (bench/bulk.ts) of N purchases (default 1 000 000; the target in issue
 * 19 is 100 alerts at 10M purchases in under 5 s), as the scheduler runs it, with every alert
 * due at once. The alerts mix what a team would set up: four windows, three filters (none, a
 * country, a channel), and metrics and conditions in turn, so 12 windows are shared by the K
 * alerts, and each KPI query of a window runs once for all of them. Prints the time, the alerts evaluated and
 * the distinct windows read.
 */
import { parseArgs } from 'node:util';
import { AlertConditionKind, createAlert, type AlertInput } from '../loaders/alerts.js';
import { Grain } from '../loaders/grain.js';
import { evaluateAlerts } from '../server/alerts/scheduler.js';
import { createLogger } from '../server/logger.js';
import { silentNotifier } from '../server/notifications/events.js';
import { BULK_END, withFreshBulkStore } from './bulk.js';
import type { Clock } from '../server/snapshots/scheduler.js';

const ctx = { requestId: 'bench-alerts' };
const seconds = (since: number) => ((performance.now() - since) / 1000).toFixed(2);

const WINDOWS = ['last-week@weekly', 'last-month@monthly', 'trailing-30d@daily', 'last-day@daily'];
const FILTERS = [null, { country: ['US'] }, { channel: ['paid'] }];
const CONDITIONS: Pick<AlertInput, 'metric' | 'condition'>[] = [
  { metric: 'retentionRate', condition: { kind: AlertConditionKind.BELOW, threshold: 0.2, percent: null } },
  { metric: 'repeatPurchaseRate', condition: { kind: AlertConditionKind.OUTSIDE_INTERVAL, threshold: null, percent: null } },
  { metric: 'revenue', condition: { kind: AlertConditionKind.DROPS_BY, threshold: null, percent: 10 } },
  { metric: 'orders', condition: { kind: AlertConditionKind.RISES_BY, threshold: null, percent: 25 } },
  { metric: 'nps', condition: { kind: AlertConditionKind.BELOW, threshold: 0, percent: null } },
  { metric: 'clv', condition: { kind: AlertConditionKind.ABOVE, threshold: 1000, percent: null } },
];

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { purchases: { type: 'string', default: '1000000' }, alerts: { type: 'string', default: '100' } } });
  const purchases = Number(values.purchases);
  const count = Number(values.alerts);
  if (!Number.isInteger(purchases) || purchases < 1) throw new Error(`--purchases must be a positive integer (got ${values.purchases})`);
  if (!Number.isInteger(count) || count < 1 || count > 1000) throw new Error(`--alerts must be an integer in 1..1000 (got ${values.alerts})`);
  await withFreshBulkStore('alerts', purchases, async (exec) => {
    for (let i = 0; i < count; i++) {
      const { metric, condition } = CONDITIONS[i % CONDITIONS.length]!;
      const filter = FILTERS[Math.floor(i / WINDOWS.length) % FILTERS.length]!;
      const a: AlertInput = { name: `bench-${i}`, metric, window: WINDOWS[i % WINDOWS.length]!, grain: Grain.MONTH, filter, currency: null, condition, webhookIds: [] };
      await createAlert(exec, ctx, a, BULK_END);
    }
    const clock: Clock = { now: () => BULK_END, setTimer: () => () => undefined };
    const deps = { exec, log: createLogger('silent'), clock, notifier: silentNotifier, reportingCurrency: undefined, grossMargin: 1 };
    for (let run = 1; run <= 2; run++) {
      const started = performance.now();
      // Since the epoch: every alert is due, at its cadence's latest boundary before the end of the store.
      const r = await evaluateAlerts(deps, new Date(0), BULK_END);
      console.log(`run ${run}: ${r.evaluated} alerts evaluated (${r.failed} failed, ${r.transitions} transitions) over ${r.windows} windows in ${seconds(started)} s`);
    }
  });
}
