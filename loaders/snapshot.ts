import type { CustomerFilterArgs } from './customer-filter.js';
import type { Loaders } from './index.js';
import type { Grain } from './grain.js';

/**
 * Stored with every persisted snapshot. Bump it whenever a KPI in the snapshot changes its
 * definition, so readers can tell snapshots computed under different definitions apart.
 * 2: CLV's purchaseFrequency divides by active customer periods (spec section 6), no longer by
 * distinct customers and the number of periods.
 * 3: refunds and cancellations (spec section 12): cancelled orders count nowhere, revenue is net
 * of refunds; the snapshot adds refundAmount and cancelledOrders.
 * 4: the loyalty program (spec section 14): the snapshot adds loyaltyMembers and pointsOutstanding.
 */
export const KPI_DEFINITIONS_VERSION = 4;

export interface SnapshotArgs {
  from: Date;
  to: Date;
  grain: Grain;
  currency: string;
  margin: number;
  asOf: Date;
  /**
   * Alerts only (kpiSnapshot itself takes none, spec section 9): the customers every field
   * counts, except those of UNFILTERED_FIELDS, whose KPIs take no filter.
   */
  filter?: CustomerFilterArgs | null;
}

/** Fields a snapshot computes over every customer whatever its filter: their KPIs take none. */
export const UNFILTERED_FIELDS = ['referralConversionRate', 'refundAmount', 'cancelledOrders'] as const satisfies readonly (keyof KpiSnapshotResult)[];

export interface KpiSnapshotResult {
  from: Date;
  to: Date;
  asOf: Date;
  grain: Grain;
  currency: string;
  generatedAt: Date;
  customers: number;
  newCustomers: number;
  orders: number;
  repeatPurchaseRate: number | null;
  revenue: number;
  refundAmount: number;
  cancelledOrders: number;
  averageOrderValue: number | null;
  clv: number | null;
  retentionRate: number | null;
  nps: number | null;
  csat: number | null;
  referralConversionRate: number | null;
  loyaltyMembers: number;
  pointsOutstanding: number;
}

/** Successes out of trials. */
export interface Proportion {
  successes: number;
  n: number;
}

type Parts = ReturnType<typeof snapshotParts>;

/**
 * The KPI queries a snapshot is assembled from, each through the loader of its own module: no
 * SQL lives here, and a document (or an alert run) that asks a KPI with the same arguments again
 * shares its query. Lazy, so that one field runs only the query behind it.
 */
function snapshotParts(loaders: Omit<Loaders, 'kpiSnapshot'>, a: SnapshotArgs) {
  const window = { from: a.from, to: a.to, asOf: a.asOf, filter: a.filter ?? null };
  const periods = { ...window, grain: a.grain, timezone: 'UTC' };
  return {
    repeat: () => loaders.repeatPurchase.load(window),
    newCustomers: () => loaders.newCustomers.load(window),
    clv: () => loaders.clvSummary.load({ ...periods, currency: a.currency, margin: a.margin }),
    retention: () => loaders.pooledRetention.load(periods),
    nps: () => loaders.nps.load({ ...periods, surveyId: null }),
    csat: () => loaders.csat.load({ ...periods, surveyId: null }),
    referralConversion: () => loaders.referralConversion.load({ from: a.from, to: a.to, asOf: a.asOf }),
    refunds: () => loaders.refundSummary.load({ from: a.from, to: a.to, currency: a.currency, asOf: a.asOf }),
    loyalty: () => loaders.loyaltyTotals.load(window),
  };
}

/**
 * The parts whose loaders answer many windows in one statement (windowsLoader): new customers and
 * referral conversions read every customer's first purchase, most of a snapshot's time at 10M
 * purchases; repeat purchase and the CLV summary read the raw orders of the windows' span once
 * instead of once per window (a 12-month kpiSeries at 10M: 10.0-10.2 s before these two, 7.3-8.1 s
 * after, the same answers).
 */
const WINDOWED_PARTS = ['newCustomers', 'referralConversion', 'repeat', 'clv'] as const satisfies readonly (keyof Parts)[];

/** Statements a series of `periods` snapshots runs at most: the windowed parts once for all periods. */
export function seriesStatements(periods: number, perSnapshot: number): number {
  return periods * (perSnapshot - WINDOWED_PARTS.length) + WINDOWED_PARTS.length;
}

/**
 * Asks the windowed parts of every window in one tick, so each loader runs one statement for
 * all of them; the snapshots of these windows then find them in the loaders' cache.
 */
export async function prefetchWindows(loaders: Omit<Loaders, 'kpiSnapshot'>, windows: readonly SnapshotArgs[]): Promise<void> {
  await Promise.all(windows.flatMap((a) => WINDOWED_PARTS.map((part) => snapshotParts(loaders, a)[part]())));
}

/** The numeric fields of kpiSnapshot (what an alert may watch). */
export type SnapshotMetric = { [K in keyof KpiSnapshotResult]-?: KpiSnapshotResult[K] extends number | null ? K : never }[keyof KpiSnapshotResult];

// A Record over the type: a numeric field added to KpiSnapshotResult fails to compile until it
// is read here, so neither the snapshot nor the alerts' closed list of metrics can miss it.
const METRIC_VALUES: { [F in SnapshotMetric]: (p: Parts) => Promise<KpiSnapshotResult[F]> } = {
  customers: async (p) => (await p.repeat()).customers,
  newCustomers: (p) => p.newCustomers(),
  orders: async (p) => (await p.repeat()).orders,
  repeatPurchaseRate: async (p) => (await p.repeat()).rate,
  revenue: async (p) => (await p.clv()).revenue,
  refundAmount: async (p) => (await p.refunds()).refundAmount,
  cancelledOrders: async (p) => (await p.refunds()).cancelledOrders,
  averageOrderValue: async (p) => (await p.clv()).averageOrderValue,
  clv: async (p) => (await p.clv()).clv,
  retentionRate: async (p) => (await p.retention()).pooledRate,
  nps: async (p) => (await p.nps()).score,
  csat: async (p) => (await p.csat()).score,
  referralConversionRate: (p) => p.referralConversion(),
  loyaltyMembers: async (p) => (await p.loyalty()).members,
  pointsOutstanding: async (p) => (await p.loyalty()).pointsOutstanding,
};

export const SNAPSHOT_METRICS = Object.keys(METRIC_VALUES) as SnapshotMetric[];

/**
 * The counts behind the snapshot's rates that are binomial proportions, the ones the KPI queries
 * give a Wilson interval for; alerts compute the interval from them.
 */
const PROPORTIONS = {
  repeatPurchaseRate: async (p: Parts): Promise<Proportion> => {
    const r = await p.repeat();
    return { successes: r.repeatCustomers, n: r.customers };
  },
  retentionRate: async (p: Parts): Promise<Proportion> => {
    const r = await p.retention();
    return { successes: r.retainedCustomers, n: r.previousCustomers };
  },
} satisfies Partial<Record<SnapshotMetric, unknown>>;

export type ProportionMetric = keyof typeof PROPORTIONS;
export const PROPORTION_METRICS = Object.keys(PROPORTIONS) as ProportionMetric[];

export function isProportion(metric: SnapshotMetric): metric is ProportionMetric {
  return Object.hasOwn(PROPORTIONS, metric);
}

/** Every headline KPI of one window. */
export async function runKpiSnapshot(loaders: Omit<Loaders, 'kpiSnapshot'>, a: SnapshotArgs, now: () => Date): Promise<KpiSnapshotResult> {
  const p = snapshotParts(loaders, a);
  const values = await Promise.all(SNAPSHOT_METRICS.map(async (m) => [m, await METRIC_VALUES[m](p)] as const));
  return { from: a.from, to: a.to, asOf: a.asOf, grain: a.grain, currency: a.currency, generatedAt: now(), ...(Object.fromEntries(values) as Pick<KpiSnapshotResult, SnapshotMetric>) };
}

/**
 * One field of the window's kpiSnapshot, running only the query behind it (shared through the
 * loaders with every other field and alert that reads it), with its counts for a proportion.
 */
export async function snapshotMetric(loaders: Omit<Loaders, 'kpiSnapshot'>, a: SnapshotArgs, metric: SnapshotMetric): Promise<{ value: number | null; proportion: Proportion | null }> {
  const p = snapshotParts(loaders, a);
  const [value, proportion] = await Promise.all([METRIC_VALUES[metric](p), isProportion(metric) ? PROPORTIONS[metric](p) : null]);
  return { value, proportion };
}
