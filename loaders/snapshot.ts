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

/**
 * The counts behind the snapshot's rates that are binomial proportions, the ones the KPI queries
 * give a Wilson interval for (repeatPurchaseRate, retentionRate); alerts compute the interval.
 */
export interface SnapshotProportions {
  repeatPurchaseRate: Proportion;
  retentionRate: Proportion;
}

export async function runKpiSnapshot(loaders: Omit<Loaders, 'kpiSnapshot'>, a: SnapshotArgs, now: () => Date): Promise<KpiSnapshotResult> {
  return (await runKpiSnapshotWithProportions(loaders, a, now)).snapshot;
}

/**
 * Every headline KPI of one window, each through the loader of its own module: no SQL
 * lives here, and a document that also asks a KPI directly shares its query.
 */
export async function runKpiSnapshotWithProportions(
  loaders: Omit<Loaders, 'kpiSnapshot'>,
  a: SnapshotArgs,
  now: () => Date,
): Promise<{ snapshot: KpiSnapshotResult; proportions: SnapshotProportions }> {
  const window = { from: a.from, to: a.to, asOf: a.asOf, filter: a.filter ?? null };
  const periods = { ...window, grain: a.grain, timezone: 'UTC' };
  const [repeat, newCustomers, clv, retention, nps, csat, referralConversionRate, refunds, loyalty] = await Promise.all([
    loaders.repeatPurchase.load(window),
    loaders.newCustomers.load(window),
    loaders.clvSummary.load({ ...periods, currency: a.currency, margin: a.margin }),
    loaders.pooledRetention.load(periods),
    loaders.nps.load({ ...periods, surveyId: null }),
    loaders.csat.load({ ...periods, surveyId: null }),
    loaders.referralConversion.load({ from: a.from, to: a.to, asOf: a.asOf }),
    loaders.refundSummary.load({ from: a.from, to: a.to, currency: a.currency, asOf: a.asOf }),
    loaders.loyaltyTotals.load(window),
  ]);
  const snapshot: KpiSnapshotResult = {
    from: a.from,
    to: a.to,
    asOf: a.asOf,
    grain: a.grain,
    currency: a.currency,
    generatedAt: now(),
    customers: repeat.customers,
    newCustomers,
    orders: repeat.orders,
    repeatPurchaseRate: repeat.rate,
    revenue: clv.revenue,
    refundAmount: refunds.refundAmount,
    cancelledOrders: refunds.cancelledOrders,
    averageOrderValue: clv.averageOrderValue,
    clv: clv.clv,
    retentionRate: retention.pooledRate,
    nps: nps.score,
    csat: csat.score,
    referralConversionRate,
    loyaltyMembers: loyalty.members,
    pointsOutstanding: loyalty.pointsOutstanding,
  };
  const proportions = {
    repeatPurchaseRate: { successes: repeat.repeatCustomers, n: repeat.customers },
    retentionRate: { successes: retention.retainedCustomers, n: retention.previousCustomers },
  };
  return { snapshot, proportions };
}
