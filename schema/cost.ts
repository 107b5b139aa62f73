// The estimates reuse the resolvers' argument checks, whose modules declare type-graphql classes.
import 'reflect-metadata';
import { MAX_ALERTS } from '../loaders/alerts.js';
import { periodsIn } from '../loaders/calendar.js';
import { Grain } from '../loaders/grain.js';
import { customerStatsChunks } from '../loaders/customers.loader.js';
import { MAX_CAMPAIGNS } from '../loaders/follow-up.sql.js';
import { seriesPeriods } from '../loaders/kpi-series.js';
import { seriesStatements } from '../loaders/snapshot.js';
import { chunkByBytes } from '../server/storage/executor.js';
import { resolveCohorts, resolvePeriods, resolveWindow, type CohortArgs, type PeriodArgs } from './common.args.js';
import { resolveReferralCohorts, type ReferralCohortArgs } from './referral.type.js';

/** What one root field of a document will cost at most: result rows and SQL statements. */
export interface Cost {
  rows: number;
  statements: number;
}

type Estimate = (args: Record<string, any>, now: Date) => Cost;

/** Statements behind one kpiSnapshot: its nine KPI queries (refunds and loyalty included), each through its own loader. */
const SNAPSHOT_STATEMENTS = 9;
/** The CLV model: the data version, then the fit (cached, but a cold cache runs it). */
const MODEL_STATEMENTS = 2;

const one: Cost = { rows: 1, statements: 1 };
const free: Cost = { rows: 0, statements: 0 };

/** A series: one row per period of the window, from `statements` statements. */
const series =
  (statements: number): Estimate =>
  (a, now) => {
    const r = resolvePeriods(a as PeriodArgs, now);
    return { rows: periodsIn(r.grain, r.from, r.to, r.timezone), statements };
  };

/** A cohort matrix: cohorts (at most one per period of the window) x offsets 0..periods. */
const cohorts =
  (statements: number): Estimate =>
  (a, now) => {
    const r = resolveCohorts(a as CohortArgs, now);
    return { rows: periodsIn(r.grain, r.from, r.to, r.timezone) * (r.periods + 1), statements };
  };

/**
 * Every root field that runs SQL, with what it costs at most for its arguments; the estimate
 * validates them the way the resolver does. Fields missing here cost one row and one
 * statement, so a new KPI is never free; introspection and storageVersion run no SQL.
 */
/**
 * A money KPI may first count the store's purchases per currency (for the default currency, or
 * to warn about one without purchases: loaders/reporting-currency.ts; cached, but a cold cache
 * runs it), and a filter on profile values checks them against the store's (one statement for
 * the warnings).
 */
const money =
  (estimate: Estimate): Estimate =>
  (a, now) => {
    const c = estimate(a, now);
    return { rows: c.rows, statements: c.statements + 1 };
  };
const filtered =
  (estimate: Estimate): Estimate =>
  (a, now) => {
    const c = estimate(a, now);
    return { rows: c.rows, statements: c.statements + (a.filter == null ? 0 : 1) };
  };

const ESTIMATES: Record<string, Estimate> = {
  retentionRate: filtered(series(1)),
  retentionRateSummary: filtered(series(1)),
  nps: filtered(series(1)),
  csat: filtered(series(1)),
  referralConversionCohorts: (a, now) => {
    const r = resolveReferralCohorts(a as ReferralCohortArgs, now);
    return { rows: periodsIn(r.grain, r.from, r.to, r.timezone), statements: 1 };
  },
  retentionCohorts: filtered(cohorts(1)),
  // The curves and the summary in one statement, churn from the pooled retention.
  customerLifetimeValue: money(filtered(cohorts(2))),
  // Breakdowns: one pass for every group, so the statements of the KPI itself. Rows are those of
  // one group: how many groups there are is known only from the data (at most MAX_GROUPS, which
  // the loader enforces), and counting every group at the cap would refuse ordinary breakdowns.
  retentionCohortsBy: filtered(cohorts(1)),
  retentionRateBy: filtered(series(1)),
  repeatPurchaseRateBy: filtered(() => one),
  customerLifetimeValueBy: money(filtered(cohorts(2))),
  npsBy: filtered(series(1)),
  csatBy: filtered(series(1)),
  kpiSnapshot: money(() => ({ rows: 1, statements: SNAPSHOT_STATEMENTS })),
  takeSnapshot: money(() => ({ rows: 1, statements: SNAPSHOT_STATEMENTS + 1 })),
  kpiSeries: money((a, now) => {
    const { from, to } = resolveWindow(a as PeriodArgs, now);
    const n = seriesPeriods(a.grain ?? Grain.MONTH, from, to).length;
    return { rows: n, statements: seriesStatements(n, SNAPSHOT_STATEMENTS) };
  }),
  customers: (a) => ({ rows: a.ids.length, statements: customerStatsChunks(a.ids).length }),
  customer: () => one,
  repeatPurchaseRate: filtered(() => one),
  // The totals and the groups.
  loyaltyProgram: money(filtered(() => ({ rows: 1, statements: 2 }))),
  npsImpact: money(() => one),
  referralImpact: money(() => one),
  followUpImpact: money(() => one),
  followUpCampaigns: () => ({ rows: MAX_CAMPAIGNS, statements: 1 }),
  customerPredictions: money((a) => ({ rows: a.ids.length, statements: MODEL_STATEMENTS + chunkByBytes(a.ids as string[], (id) => id).length })),
  // The fit with a holdout reads the holdout's purchases too.
  clvModel: money((a) => ({ rows: 1, statements: MODEL_STATEMENTS + (a.holdoutEnd ? 1 : 0) })),
  atRiskCustomers: money((a) => ({ rows: a.first ?? 50, statements: MODEL_STATEMENTS + 1 })),
  kpiSnapshots: (a) => ({ rows: a.first ?? 20, statements: 1 }),
  cohortCustomers: filtered((a) => ({ rows: a.first ?? 100, statements: 1 })),
  erasures: (a) => ({ rows: a.first ?? 20, statements: 1 }),
  // The definitions and the states.
  alerts: () => ({ rows: MAX_ALERTS, statements: 2 }),
  alertEvents: (a) => ({ rows: a.first ?? 20, statements: 1 }),
  storageVersion: () => free,
  __schema: () => free,
  __type: () => free,
  __typename: () => free,
};

/**
 * The most a root field may cost. Arguments the resolver would refuse cost nothing here: the
 * resolver refuses them itself, naming the argument, before any SQL.
 */
export function estimateCost(field: string, args: Record<string, unknown>, now: Date): Cost {
  const estimate = ESTIMATES[field];
  if (!estimate) return one;
  let cost: Cost;
  try {
    cost = estimate(args, now);
  } catch {
    return free;
  }
  return Number.isFinite(cost.rows) && Number.isFinite(cost.statements) ? cost : one;
}
