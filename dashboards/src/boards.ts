// The five executive boards. `npm run dashboards` writes them to dashboards/boards/*.json;
// tests/dashboards.test.ts fails when those files differ from what this builds.
import type { Builder } from '@grafana/grafana-foundation-sdk/cog';
import {
  CustomVariableBuilder, DashboardBuilder, DashboardLinkBuilder, DashboardLinkType, QueryVariableBuilder,
  VariableRefresh, VariableSort, type Dashboard, type Panel, type VariableModel,
} from '@grafana/grafana-foundation-sdk/dashboard';
import { loadDocument, VARIABLES_DIR } from './documents.js';
import { InfinityGraphqlQueryBuilder, KPI_DATASOURCE } from './infinity.js';
import { band, bandHigh, barchart, fixedColor, matrix, rightAxis, stat, table, timeseries, unit } from './panels.js';

// --- Reshaping in the root selector (JSONata; the plugin's 1.5-era subset: no `@`/`#`). ---
// Wrapped in [...] so that a single row stays a list.

/** NPS per period with its 95% margin of error (spec section 7), and the band it spans. */
const NPS_BAND =
  '[data.nps.series.( $n := responses; $p := promoters / $n; $d := detractors / $n; ' +
  '$m := $n < 2 ? null : 100 * 1.96 * $sqrt(($p + $d - $power($p - $d, 2)) / $n); ' +
  '{ "periodStart": periodStart, "score": score, "marginOfError": $m, ' +
  '"low": $m = null ? null : score - $m, "high": $m = null ? null : score + $m } )]';
/** CSAT per period with the normal-approximation 95% margin of a proportion. */
const CSAT_BAND =
  '[data.csat.series.( $n := responses; $s := satisfied / $n; ' +
  '$m := $n < 2 ? null : 100 * 1.96 * $sqrt($s * (1 - $s) / $n); ' +
  '{ "periodStart": periodStart, "score": score, "marginOfError": $m, ' +
  '"low": $m = null ? null : score - $m, "high": $m = null ? null : score + $m } )]';
const NPS_SPLIT =
  '[data.nps.series.{ "periodStart": periodStart, "promoters": promoters / responses, ' +
  '"passives": passives / responses, "detractors": detractors / responses }]';
// --- Periods without data: empty, never a fake 0 ---
// After the store's last event (or before its first) the API counts zero customers, which
// would draw as "Retention 0%, Customers 0, Revenue 0". The selectors below turn the values of
// such periods into null, which stat panels skip (lastNotNull) and series draw as gaps.

/**
 * Periods in which anyone in the store (no filter) made a first purchase: the `store` alias of
 * the retention documents. A period with nobody retained and no first purchase has no data.
 */
const ACTIVE = '$active := data.store.cohorts.cohortStart';
const NO_DATA = (retained: string): string => `(${retained} = 0 and $not(periodStart in $active))`;

const RETENTION_RATE =
  `( ${ACTIVE}; [data.retentionRate.( $e := ${NO_DATA('retainedCustomers')}; ` +
  '{ "periodStart": periodStart, "rate": $e ? null : rate, "churnRate": $e ? null : churnRate } )] )';
/** The API's pooled rate, sum(retained) / sum(previous), over the periods with data only. */
const RETENTION_POOLED =
  `( ${ACTIVE}; $p := data.retentionRateSummary.periods[$not(${NO_DATA('retainedCustomers')})]; ` +
  '$n := $sum($p.previousCustomers); $r := $n = 0 ? null : $sum($p.retainedCustomers) / $n; ' +
  '{ "pooledRate": $r, "pooledChurnRate": $r = null ? null : 1 - $r } )';
/** A breakdown group's label: its key, or "(none)" for the customers without a value. */
const GROUP = '"group": key ? key : "(none)"';
/** Pooled retention per group of a `retentionRateBy` alias, over the periods with data only (as RETENTION_POOLED). */
const RETENTION_BY = (alias: string): string =>
  `( ${ACTIVE}; [data.${alias}.( $p := value[$not(${NO_DATA('retainedCustomers')})]; $n := $sum($p.previousCustomers); ` +
  `{ ${GROUP}, "rate": $n = 0 ? null : $sum($p.retainedCustomers) / $n } )] )`;
/** Repeat purchase rate per group of a `repeatPurchaseRateBy` alias, over the whole range. */
const REPEAT_BY = (alias: string): string => `[data.${alias}.{ ${GROUP}, "rate": value.rate }]`;
/** A cohort's row label: its first day and its size. */
const COHORT_LABEL = '$c := $substring(cohortStart, 0, 10) & " (" & $string(size) & ")"';
const COHORT_RATE = `"rate": ${NO_DATA('retained')} ? null : rate`;
const RETENTION_TRIANGLE =
  `( ${ACTIVE}; [data.retentionCohorts.cohorts.( ${COHORT_LABEL}; cells.{ "cohort": $c, "offset": offset, "periodStart": periodStart, ${COHORT_RATE} } )] )`;
// Long (time, cohort, value) rows sorted by time: the plugin turns them into one series per cohort.
const RETENTION_CURVES =
  `( ${ACTIVE}; [data.retentionCohorts.cohorts.( ${COHORT_LABEL}; cells[offset > 0].{ "periodStart": periodStart, "cohort": $c, ${COHORT_RATE} } )]^(periodStart) )`;
const CLV_CURVES =
  `( ${ACTIVE}; [data.customerLifetimeValue.cohorts.( ${COHORT_LABEL}; cells.{ "periodStart": periodStart, "cohort": $c, ` +
  `"revenuePerCustomer": ${NO_DATA('revenue')} ? null : cumulativeRevenuePerCustomer } )]^(periodStart) )`;
const AVERAGE_RETENTION = '[data.retentionCohorts.average.{ "offset": $string(offset), "rate": rate }]';
/**
 * kpiSeries per period; `customers` counts every purchase of the period (all currencies), so
 * 0 means no data. With one period per point, each customer is active in one period, so
 * orders / activeCustomerPeriods is orders / customers.
 */
const KPI_SERIES =
  '[data.kpiSeries.( $e := customers = 0; { "from": from, "customers": $e ? null : customers, ' +
  '"newCustomers": $e ? null : newCustomers, "orders": $e ? null : orders, "revenue": $e ? null : revenue, ' +
  '"refundAmount": $e ? null : refundAmount, "cancelledOrders": $e ? null : cancelledOrders, ' +
  '"averageOrderValue": averageOrderValue, "repeatPurchaseRate": repeatPurchaseRate, "clv": clv, ' +
  '"purchaseFrequency": $e ? null : orders / customers } )]';
const REFERRAL_GROUPS =
  'data.referralImpact.[ $merge([{ "group": "referred" }, referred]), $merge([{ "group": "organic" }, organic]) ]';
const NPS_BUCKETS =
  'data.npsImpact.[ $merge([{ "bucket": "promoters" }, promoters]), $merge([{ "bucket": "passives" }, passives]), ' +
  '$merge([{ "bucket": "detractors" }, detractors]) ]';

// --- Variables ---

const GRAINS = ['DAY', 'WEEK', 'MONTH', 'QUARTER', 'YEAR'];

function custom(name: string, label: string, description: string, values: string[], current: string): CustomVariableBuilder {
  return new CustomVariableBuilder(name)
    .label(label)
    .description(description)
    .values(values.join(','))
    .current({ text: current, value: current })
    .options(values.map((v) => ({ text: v, value: v, selected: v === current })));
}

/** The fields of `storeDimensions` the variables list. */
type Dimension = 'currencies' | 'countries' | 'channels' | 'segments';

/**
 * A variable whose values the API lists each time a board loads (and, with `onRange`, when its
 * time range changes): an Infinity query variable over one document under dashboards/variables,
 * one string column, in the API's order.
 */
function fromApi(name: string, label: string, description: string, doc: string, list: string, onRange = false): QueryVariableBuilder {
  const document = loadDocument(doc, VARIABLES_DIR);
  const infinityQuery = new InfinityGraphqlQueryBuilder(document.grafana)
    .refId('variable')
    // One object per value: the plugin makes a row of each.
    .rootSelector(`[${list}]`)
    .column('value', 'string', 'value')
    .build();
  return new QueryVariableBuilder(name)
    .label(label)
    .description(description)
    .datasource(KPI_DATASOURCE)
    .query({ queryType: 'infinity', query: '', infinityQuery })
    .definition(list)
    .refresh(onRange ? VariableRefresh.OnTimeRangeChanged : VariableRefresh.OnDashboardLoad)
    .sort(VariableSort.Disabled);
}

/** What the store holds (storeDimensions), `$` being each value itself. */
function fromStore(name: string, label: string, description: string, dimension: Dimension): QueryVariableBuilder {
  return fromApi(name, label, description, 'BoardDimensions', `data.storeDimensions.${dimension}.{ "value": $ }`);
}

/** A customer-filter list: "All" is the API's "no filter" (null), not the list of values, which would drop customers without the attribute. */
function filterList(name: string, label: string, description: string, dimension: Dimension): QueryVariableBuilder {
  return fromStore(name, label, description, dimension)
    .multi(true)
    .includeAll(true)
    .allValue('null')
    .allowCustomValue(true)
    .current({ text: ['All'], value: ['$__all'] });
}

const VARIABLES: Record<string, () => Builder<VariableModel>> = {
  grain: () => custom('grain', 'Period', 'Calendar period (UTC) of every series and cohort.', GRAINS, 'MONTH').allowCustomValue(false),
  // No default of its own: Grafana selects the first currency the API lists.
  currency: () => fromStore('currency', 'Currency', 'ISO 4217 currency of money KPIs; no conversion between currencies.', 'currencies').allowCustomValue(true),
  country: () => filterList('country', 'Country', "Customers whose latest profile has one of these countries.", 'countries'),
  channel: () => filterList('channel', 'Channel', 'Customers acquired through one of these channels.', 'channels'),
  segment: () => filterList('segment', 'Segment', 'Customers of one of these segments.', 'segments'),
  referred: () =>
    new CustomVariableBuilder('referred')
      .label('Acquisition')
      .description('Customers acquired by a converted referral, or the others.')
      .values('referred : true,organic : false')
      .includeAll(true)
      .allValue('null')
      .current({ text: 'All', value: '$__all' }),
  // No default of its own: Grafana selects the first campaign of the range.
  campaign: () =>
    fromApi('campaign', 'Campaign', 'Follow-up campaign with customers assigned in the range.', 'BoardCampaigns', 'data.followUpCampaigns.{ "value": campaign }', true),
};
const VARIABLE_ORDER = Object.keys(VARIABLES);

// --- Boards ---

type PanelRecipe = Builder<Panel>;

interface BoardSpec {
  uid: string;
  title: string;
  description: string;
  panels: PanelRecipe[];
}

const PERIOD = 'per ${grain} (UTC)';
/** Spec section 12, said once for every revenue figure of the boards that read kpiSeries. */
const NET = 'Net revenue: purchases not cancelled minus the refunds of such orders dated in the period (a period can be negative).';
const FILTERS = 'The country, channel, segment and acquisition filters apply.';
const NO_FILTERS = 'Over all customers: the customer filters do not apply.';
const LATEST = 'The big number is the latest period of the range, the percentage its change since the first period.';

const overview: BoardSpec = {
  uid: 'kpi-executive-overview',
  title: 'Executive overview',
  description: 'Headline retention, value, satisfaction and referral KPIs with their trends.',
  panels: [
    stat({
      title: 'Retention rate', unit: 'percentunit', w: 3, h: 5,
      description: `Share of the previous period's customers who bought again, ${PERIOD}. ${LATEST} ${FILTERS}`,
      target: { doc: 'BoardRetentionRate', root: RETENTION_RATE, format: 'timeseries', columns: [['periodStart', 'timestamp', 'Period'], ['rate', 'number', 'Retention rate']] },
    }),
    stat({
      title: 'Repeat purchase rate', unit: 'percentunit', w: 3, h: 5,
      description: `Share of a period's customers with two or more purchases in it, ${PERIOD}. ${LATEST} ${NO_FILTERS}`,
      target: { doc: 'BoardKpiSeries', root: KPI_SERIES, format: 'timeseries', columns: [['from', 'timestamp', 'Period'], ['repeatPurchaseRate', 'number', 'Repeat purchase rate']] },
    }),
    stat({
      title: 'CLV (${currency})', unit: 'short', decimals: 2, w: 3, h: 5,
      description: `Customer lifetime value in \${currency}: average order value x purchase frequency x margin / churn, ${PERIOD}. ${LATEST} ${NO_FILTERS}`,
      target: { doc: 'BoardKpiSeries', root: KPI_SERIES, format: 'timeseries', columns: [['from', 'timestamp', 'Period'], ['clv', 'number', 'CLV']] },
    }),
    stat({
      title: 'NPS', unit: 'none', decimals: 1, w: 3, h: 5,
      description: `Net Promoter Score (-100..100) and its 95% margin of error in points, ${PERIOD}. ${LATEST} ${FILTERS}`,
      target: { doc: 'BoardNps', root: NPS_BAND, format: 'timeseries', columns: [['periodStart', 'timestamp', 'Period'], ['score', 'number', 'NPS'], ['marginOfError', 'number', '± margin']] },
    }),
    stat({
      title: 'CSAT', unit: 'percent', decimals: 1, w: 3, h: 5,
      description: `Share of CSAT responses scoring 4 or 5, ${PERIOD}. ${LATEST} ${FILTERS}`,
      target: { doc: 'BoardCsat', root: 'data.csat.series', format: 'timeseries', columns: [['periodStart', 'timestamp', 'Period'], ['score', 'number', 'CSAT']] },
    }),
    stat({
      title: 'Referral conversion rate', unit: 'percentunit', w: 3, h: 5,
      description: `Referrals whose referred customer made a first purchase within 90 days, by period of the referral's start. Recent periods are still converting. ${LATEST}`,
      target: { doc: 'BoardReferralCohorts', root: 'data.referralConversionCohorts', format: 'timeseries', columns: [['cohortStart', 'timestamp', 'Period'], ['conversionRate', 'number', 'Conversion rate']] },
    }),
    stat({
      title: 'Customers', unit: 'short', w: 3, h: 5,
      description: `Customers with at least one purchase, ${PERIOD}. ${LATEST} ${NO_FILTERS}`,
      target: { doc: 'BoardKpiSeries', root: KPI_SERIES, format: 'timeseries', columns: [['from', 'timestamp', 'Period'], ['customers', 'number', 'Customers']] },
    }),
    stat({
      title: 'Net revenue (${currency})', unit: 'short', decimals: 0, w: 3, h: 5,
      description: `${NET} In \${currency}, ${PERIOD}. ${LATEST} ${NO_FILTERS}`,
      target: { doc: 'BoardKpiSeries', root: KPI_SERIES, format: 'timeseries', columns: [['from', 'timestamp', 'Period'], ['revenue', 'number', 'Net revenue']] },
    }),
    timeseries({
      title: 'Retention and churn by period', unit: 'percentunit', w: 12, h: 8, min: 0,
      description: `Period retention and its complement, churn, ${PERIOD}. ${FILTERS}`,
      target: { doc: 'BoardRetentionRate', root: RETENTION_RATE, columns: [['periodStart', 'timestamp', 'Period'], ['rate', 'number', 'Retention rate'], ['churnRate', 'number', 'Churn rate']] },
    }),
    timeseries({
      title: 'Repeat purchase rate by period', unit: 'percentunit', w: 12, h: 8, min: 0,
      description: `Share of each period's customers who bought twice or more in it, ${PERIOD}. ${NO_FILTERS}`,
      target: { doc: 'BoardKpiSeries', root: KPI_SERIES, columns: [['from', 'timestamp', 'Period'], ['repeatPurchaseRate', 'number', 'Repeat purchase rate']] },
    }),
    timeseries({
      title: 'CLV by period (${currency})', unit: 'short', decimals: 2, w: 12, h: 8, min: 0,
      description: `Customer lifetime value of each period's orders and churn, ${PERIOD}. ${NO_FILTERS}`,
      target: { doc: 'BoardKpiSeries', root: KPI_SERIES, columns: [['from', 'timestamp', 'Period'], ['clv', 'number', 'CLV']] },
    }),
    timeseries({
      title: 'NPS and CSAT by period', unit: 'none', decimals: 1, w: 12, h: 8,
      description: `NPS (-100..100) and CSAT (0..100), ${PERIOD}; periods without responses are gaps. ${FILTERS}`,
      target: { doc: 'BoardNps', root: 'data.nps.series', columns: [['periodStart', 'timestamp', 'Period'], ['score', 'number', 'NPS']] },
      more: [{ doc: 'BoardCsat', root: 'data.csat.series', columns: [['periodStart', 'timestamp', 'Period'], ['score', 'number', 'CSAT']] }],
    }),
    timeseries({
      title: 'Referral conversion by period', unit: 'percentunit', w: 12, h: 8, min: 0,
      description: "Click, sign-up and conversion rates of the referrals started in each period (90-day attribution). Recent periods are still converting.",
      target: { doc: 'BoardReferralCohorts', root: 'data.referralConversionCohorts', columns: [['cohortStart', 'timestamp', 'Period'], ['clickRate', 'number', 'Click rate'], ['signupRate', 'number', 'Sign-up rate'], ['conversionRate', 'number', 'Conversion rate']] },
    }),
    timeseries({
      title: 'Customers and net revenue by period (${currency})', unit: 'short', w: 12, h: 8, min: 0, bars: false,
      description: `Active customers (left axis) and net revenue in \${currency} (right axis), ${PERIOD}. ${NET} ${NO_FILTERS}`,
      target: { doc: 'BoardKpiSeries', root: KPI_SERIES, columns: [['from', 'timestamp', 'Period'], ['customers', 'number', 'Customers'], ['revenue', 'number', 'Net revenue']] },
      overrides: { 'Net revenue': [rightAxis] },
    }),
    timeseries({
      title: 'Refunds and cancelled orders by period (${currency})', unit: 'short', w: 12, h: 8, min: 0,
      description: `Refunds in \${currency} of orders not cancelled, dated in the period (left axis), and purchases of the period in every currency that refunds cancelled in full (right axis), ${PERIOD}. A late refund restates past periods. ${NO_FILTERS}`,
      target: { doc: 'BoardKpiSeries', root: KPI_SERIES, columns: [['from', 'timestamp', 'Period'], ['refundAmount', 'number', 'Refund amount'], ['cancelledOrders', 'number', 'Cancelled orders']] },
      overrides: { 'Cancelled orders': [rightAxis] },
    }),
  ],
};

const retention: BoardSpec = {
  uid: 'kpi-retention-cohorts',
  title: 'Retention cohorts',
  description: 'Cohorts by period of first purchase, their retention curves, and period retention and churn.',
  panels: [
    stat({
      title: 'Pooled retention and churn', unit: 'percentunit', w: 6, h: 6,
      description: `Over the whole range: customers retained from one period to the next / customers of the previous periods, and its complement. ${FILTERS}`,
      target: { doc: 'BoardRetentionSummary', root: RETENTION_POOLED, columns: [['pooledRate', 'number', 'Retention'], ['pooledChurnRate', 'number', 'Churn']] },
    }),
    timeseries({
      title: 'Period retention and churn', unit: 'percentunit', w: 18, h: 6, min: 0,
      description: `Share of the previous period's customers who bought again, and churn, ${PERIOD}. ${FILTERS}`,
      target: { doc: 'BoardRetentionRate', root: RETENTION_RATE, columns: [['periodStart', 'timestamp', 'Period'], ['rate', 'number', 'Retention rate'], ['churnRate', 'number', 'Churn rate']] },
    }),
    matrix({
      title: 'Cohort triangle', unit: 'percentunit', w: 24, h: 12, row: 'cohort', column: 'offset', value: 'rate',
      description: `Rows: cohorts by \${grain} of first purchase ever that start in the range, with their size. Columns: periods since the first purchase (0..12). Cells: share of the cohort buying in that period. ${FILTERS}`,
      target: { doc: 'BoardRetentionCohorts', root: RETENTION_TRIANGLE, columns: [['cohort', 'string', 'cohort'], ['offset', 'number', 'offset'], ['rate', 'number', 'rate']] },
    }),
    timeseries({
      title: 'Retention curves per cohort', unit: 'percentunit', w: 12, h: 9, min: 0,
      description: `Each cohort's share of customers buying in each later period, on the calendar (offset 0, always 100%, left out). ${FILTERS}`,
      target: { doc: 'BoardRetentionCohorts', root: RETENTION_CURVES, columns: [['periodStart', 'timestamp', 'Period'], ['cohort', 'string', 'Cohort'], ['rate', 'number', 'Retention']] },
    }),
    barchart({
      title: 'Average retention by periods since first purchase', unit: 'percentunit', w: 12, h: 9, x: 'Offset',
      description: `Size-weighted average retention over the cohorts that reached each offset. ${FILTERS}`,
      target: { doc: 'BoardRetentionCohorts', root: AVERAGE_RETENTION, columns: [['offset', 'string', 'Offset'], ['rate', 'number', 'Retention']] },
    }),
    ...(
      [
        ['channel', 'retentionByChannel', 'repeatByChannel', 'acquisition channel (latest profile)'],
        ['NPS group', 'retentionByNpsGroup', 'repeatByNpsGroup', 'latest NPS response (promoter 9-10, passive 7-8, detractor 0-6)'],
      ] as const
    ).flatMap(([name, retentionAlias, repeatAlias, what]) => [
      barchart({
        title: `Pooled retention by ${name}`, unit: 'percentunit', w: 6, h: 8, x: 'Group',
        description: `Pooled period retention over the range (${PERIOD}) per ${what}; "(none)": customers without one. ${FILTERS}`,
        target: { doc: 'BoardBreakdowns', root: RETENTION_BY(retentionAlias), columns: [['group', 'string', 'Group'], ['rate', 'number', 'Retention']] },
      }),
      barchart({
        title: `Repeat purchase rate by ${name}`, unit: 'percentunit', w: 6, h: 8, x: 'Group',
        description: `Share of the range's customers with two or more purchases in it, per ${what}; "(none)": customers without one. ${FILTERS}`,
        target: { doc: 'BoardBreakdowns', root: REPEAT_BY(repeatAlias), columns: [['group', 'string', 'Group'], ['rate', 'number', 'Repeat purchase rate']] },
      }),
    ]),
  ],
};

const value: BoardSpec = {
  uid: 'kpi-customer-value',
  title: 'Customer value',
  description: 'Customer lifetime value, order value, purchase frequency and the value of referred customers.',
  panels: [
    stat({
      title: 'CLV (${currency})', unit: 'short', decimals: 2, w: 6, h: 5,
      description: `Average order value x purchase frequency x margin x expected lifetime (1 / churn) over the range. ${FILTERS}`,
      target: { doc: 'BoardClv', root: 'data.customerLifetimeValue', columns: [['clv', 'number', 'CLV']] },
    }),
    stat({
      title: 'Average order value (${currency})', unit: 'short', decimals: 2, w: 6, h: 5,
      description: `Revenue / orders of the range's purchases in \${currency}. ${FILTERS}`,
      target: { doc: 'BoardClv', root: 'data.customerLifetimeValue', columns: [['averageOrderValue', 'number', 'AOV']] },
    }),
    stat({
      title: 'Purchase frequency', unit: 'none', decimals: 2, w: 6, h: 5,
      description: `Orders per active customer per \${grain} over the range: orders / (customer, \${grain}) pairs with a purchase. ${FILTERS}`,
      target: { doc: 'BoardClv', root: 'data.customerLifetimeValue', columns: [['purchaseFrequency', 'number', 'Orders per customer per period']] },
    }),
    stat({
      title: 'Expected lifetime (periods)', unit: 'none', decimals: 1, w: 6, h: 5,
      description: `1 / churn rate: how many \${grain} periods a customer is expected to stay. ${FILTERS}`,
      target: { doc: 'BoardClv', root: 'data.customerLifetimeValue', columns: [['expectedLifetimePeriods', 'number', 'Periods']] },
    }),
    timeseries({
      title: 'CLV cohort curves (${currency})', unit: 'short', decimals: 2, w: 24, h: 10, min: 0,
      description: `Cumulative revenue per customer of each cohort (by \${grain} of first purchase), period after period. ${FILTERS}`,
      target: { doc: 'BoardClv', root: CLV_CURVES, columns: [['periodStart', 'timestamp', 'Period'], ['cohort', 'string', 'Cohort'], ['revenuePerCustomer', 'number', 'Revenue per customer']] },
    }),
    timeseries({
      title: 'AOV and purchase frequency by period', unit: 'short', decimals: 2, w: 12, h: 9, min: 0,
      description: `Average order value in \${currency} (left axis) and orders per customer (right axis), ${PERIOD}. ${NO_FILTERS}`,
      target: { doc: 'BoardKpiSeries', root: KPI_SERIES, columns: [['from', 'timestamp', 'Period'], ['averageOrderValue', 'number', 'Average order value'], ['purchaseFrequency', 'number', 'Purchase frequency']] },
      overrides: { 'Purchase frequency': [rightAxis, unit('none')] },
    }),
    table({
      title: 'Referred vs organic customers (${currency})', unit: 'short', w: 12, h: 9,
      description: 'New customers of the range (first purchase in it) acquired by a converted referral versus the others: repeat buyers and revenue per customer up to now. The customer filters do not apply.',
      target: { doc: 'BoardReferralImpact', root: REFERRAL_GROUPS, columns: [['group', 'string', 'Group'], ['customers', 'number', 'Customers'], ['repeatCustomers', 'number', 'Repeat customers'], ['repeatRate', 'number', 'Repeat rate'], ['averageRevenue', 'number', 'Revenue per customer']] },
      overrides: { 'Repeat rate': [unit('percentunit')], 'Revenue per customer': [{ id: 'decimals', value: 2 }] },
    }),
  ],
};

const voice: BoardSpec = {
  uid: 'kpi-voice-of-customer',
  title: 'Voice of the customer',
  description: 'NPS and CSAT with their margins of error, the promoter mix and how promoters and detractors buy.',
  panels: [
    stat({
      title: 'NPS over the range', unit: 'none', decimals: 1, w: 6, h: 5,
      description: `Net Promoter Score of all NPS responses in the range, its 95% margin of error in points, and the responses. ${FILTERS}`,
      target: { doc: 'BoardNps', root: 'data.nps', columns: [['score', 'number', 'NPS'], ['marginOfError', 'number', '± margin'], ['responses', 'number', 'Responses']] },
    }),
    stat({
      title: 'CSAT over the range', unit: 'percent', decimals: 1, w: 6, h: 5,
      description: `Share of CSAT responses in the range scoring 4 or 5, and the responses. ${FILTERS}`,
      target: { doc: 'BoardCsat', root: 'data.csat', columns: [['score', 'number', 'CSAT'], ['responses', 'number', 'Responses']] },
      overrides: { Responses: [unit('short'), { id: 'decimals', value: 0 }] },
    }),
    table({
      title: 'Promoters vs detractors: behaviour', unit: 'short', w: 12, h: 5,
      description: `Customers by their latest NPS answer in the range: repeat buyers, orders and revenue (in \${currency}) per customer up to now. ${FILTERS}`,
      target: { doc: 'BoardNpsImpact', root: NPS_BUCKETS, columns: [['bucket', 'string', 'Group'], ['customers', 'number', 'Customers'], ['repeatRate', 'number', 'Repeat rate'], ['ordersPerCustomer', 'number', 'Orders per customer'], ['revenuePerCustomer', 'number', 'Revenue per customer']] },
      overrides: { 'Repeat rate': [unit('percentunit')], 'Orders per customer': [{ id: 'decimals', value: 2 }], 'Revenue per customer': [{ id: 'decimals', value: 2 }] },
    }),
    timeseries({
      title: 'NPS trend with margin of error', unit: 'none', decimals: 1, w: 12, h: 9,
      description: `NPS ${PERIOD} and the band of its 95% margin of error (none under 2 responses). ${FILTERS}`,
      target: { doc: 'BoardNps', root: NPS_BAND, columns: [['periodStart', 'timestamp', 'Period'], ['score', 'number', 'NPS'], ['low', 'number', 'low'], ['high', 'number', 'high']] },
      overrides: { ...band('low'), high: bandHigh('low') },
    }),
    timeseries({
      title: 'CSAT trend with margin of error', unit: 'percent', decimals: 1, w: 12, h: 9,
      description: `CSAT ${PERIOD} and the band of its 95% margin of error (normal approximation; none under 2 responses). ${FILTERS}`,
      target: { doc: 'BoardCsat', root: CSAT_BAND, columns: [['periodStart', 'timestamp', 'Period'], ['score', 'number', 'CSAT'], ['low', 'number', 'low'], ['high', 'number', 'high']] },
      overrides: { ...band('low'), high: bandHigh('low') },
    }),
    timeseries({
      title: 'Promoters, passives and detractors', unit: 'percentunit', w: 24, h: 8, min: 0, bars: true, stacked: true,
      description: `Shares of NPS responses scoring 9-10, 7-8 and 0-6, ${PERIOD}. ${FILTERS}`,
      target: { doc: 'BoardNps', root: NPS_SPLIT, columns: [['periodStart', 'timestamp', 'Period'], ['promoters', 'number', 'Promoters'], ['passives', 'number', 'Passives'], ['detractors', 'number', 'Detractors']] },
      overrides: { Promoters: [fixedColor('green')], Passives: [fixedColor('yellow')], Detractors: [fixedColor('red')] },
    }),
  ],
};

const referrals: BoardSpec = {
  uid: 'kpi-referrals',
  title: 'Referrals',
  description: 'Referral funnel by period of start, conversion, time to convert and the k-factor.',
  panels: [
    stat({
      title: 'K-factor', unit: 'none', decimals: 3, w: 6, h: 5,
      description: '(Referrals started / active customers) x (converted / invited) over the range: new customers each customer brings through referrals.',
      target: { doc: 'BoardReferralImpact', root: 'data.referralImpact', columns: [['kFactor', 'number', 'K-factor']] },
    }),
    stat({
      title: 'Referrals started and converted', unit: 'short', w: 12, h: 5,
      description: "Referrals started in the range, those whose referred customer bought within 90 days, and that share.",
      target: { doc: 'BoardReferralImpact', root: 'data.referralImpact', columns: [['referralsStarted', 'number', 'Started'], ['referralsConverted', 'number', 'Converted'], ['conversionRate', 'number', 'Conversion rate']] },
      overrides: { 'Conversion rate': [unit('percentunit')] },
    }),
    stat({
      title: 'Referral conversion rate', unit: 'percentunit', w: 6, h: 5,
      description: `Conversion rate of the referrals started in each period (90-day attribution). Recent periods are still converting. ${LATEST}`,
      target: { doc: 'BoardReferralCohorts', root: 'data.referralConversionCohorts', format: 'timeseries', columns: [['cohortStart', 'timestamp', 'Period'], ['conversionRate', 'number', 'Conversion rate']] },
    }),
    timeseries({
      title: 'Funnel by cohort', unit: 'short', w: 12, h: 9, min: 0, bars: true,
      description: 'Referrals started in each period: invited (all), clicked, signed up, converted (first purchase within 90 days).',
      target: { doc: 'BoardReferralCohorts', root: 'data.referralConversionCohorts', columns: [['cohortStart', 'timestamp', 'Period'], ['invited', 'number', 'Invited'], ['clicked', 'number', 'Clicked'], ['signedUp', 'number', 'Signed up'], ['converted', 'number', 'Converted']] },
    }),
    timeseries({
      title: 'Conversion rate trend', unit: 'percentunit', w: 12, h: 9, min: 0,
      description: 'Click, sign-up and conversion rates (each / invited) of the referrals started in each period.',
      target: { doc: 'BoardReferralCohorts', root: 'data.referralConversionCohorts', columns: [['cohortStart', 'timestamp', 'Period'], ['clickRate', 'number', 'Click rate'], ['signupRate', 'number', 'Sign-up rate'], ['conversionRate', 'number', 'Conversion rate']] },
    }),
    timeseries({
      title: 'Median days to convert', unit: 'd', decimals: 1, w: 12, h: 8, min: 0,
      description: "Median days from a referral's start to the referred customer's first purchase, over the converted referrals of each period.",
      target: { doc: 'BoardReferralCohorts', root: 'data.referralConversionCohorts', columns: [['cohortStart', 'timestamp', 'Period'], ['medianDaysToConvert', 'number', 'Median days']] },
    }),
    table({
      title: 'Funnel table', unit: 'short', w: 12, h: 8,
      description: 'The funnel of each period of start, with its rates and median days to convert.',
      target: { doc: 'BoardReferralCohorts', root: 'data.referralConversionCohorts', columns: [['cohortStart', 'timestamp', 'Cohort'], ['invited', 'number', 'Invited'], ['clicked', 'number', 'Clicked'], ['signedUp', 'number', 'Signed up'], ['converted', 'number', 'Converted'], ['conversionRate', 'number', 'Conversion rate'], ['medianDaysToConvert', 'number', 'Median days']] },
      overrides: { 'Conversion rate': [unit('percentunit')], 'Median days': [unit('none'), { id: 'decimals', value: 1 }] },
    }),
  ],
};

const FOLLOW_UP_GROUPS =
  '[$merge([{ "group": "treated" }, data.followUpImpact.treated]), $merge([{ "group": "held out" }, data.followUpImpact.control])]';
const CAMPAIGN = 'customers assigned to $campaign in the range whose 30-day window has ended';

/** The members' and the others' group of loyaltyProgram as two rows, then one row per tier. */
const LOYALTY_GROUPS =
  '[$merge([{ "group": "members" }, data.loyaltyProgram.memberGroup]), $merge([{ "group": "non-members" }, data.loyaltyProgram.nonMemberGroup])]';
const LOYALTY_POPULATION = 'customers with a purchase before the range, split by membership (or tier) at its start; active = a purchase in the range';
const LOYALTY_COLUMNS: [string, 'number', string][] = [
  ['customers', 'number', 'Customers'],
  ['activeCustomers', 'number', 'Active'],
  ['activeRate', 'number', 'Active rate'],
  ['activeRateLow', 'number', 'low'],
  ['activeRateHigh', 'number', 'high'],
  ['ordersPerCustomer', 'number', 'Orders per customer'],
  ['revenuePerCustomer', 'number', 'Net revenue per customer'],
];
const LOYALTY_OVERRIDES = { 'Active rate': [unit('percentunit')], low: [unit('percentunit')], high: [unit('percentunit')], 'Orders per customer': [{ id: 'decimals', value: 2 }], 'Net revenue per customer': [{ id: 'decimals', value: 2 }] };

const programs: BoardSpec = {
  uid: 'kpi-programs',
  title: 'Programs',
  description: 'The retention programs themselves: the loyalty program (members against the others, points) and follow-up campaigns measured against their held-out customers.',
  panels: [
    stat({
      title: 'Loyalty members', unit: 'short', w: 6, h: 5,
      description: 'Members at the end of the range (latest JOINED or LEFT is a JOINED), with JOINED and LEFT events in the range.',
      target: { doc: 'BoardLoyalty', root: 'data.loyaltyProgram', columns: [['members', 'number', 'Members'], ['joined', 'number', 'Joined'], ['left', 'number', 'Left']] },
    }),
    stat({
      title: 'Points outstanding', unit: 'short', w: 6, h: 5,
      description: 'Every point earned minus every point redeemed up to the end of the range: what the program owes.',
      target: { doc: 'BoardLoyalty', root: 'data.loyaltyProgram', columns: [['pointsOutstanding', 'number', 'Points outstanding']] },
    }),
    stat({
      title: 'Redemption rate', unit: 'percentunit', decimals: 1, w: 6, h: 5,
      description: 'Points redeemed in the range over points earned in the range.',
      target: { doc: 'BoardLoyalty', root: 'data.loyaltyProgram', columns: [['redemptionRate', 'number', 'Redemption rate']] },
    }),
    stat({
      title: 'Members more active by', unit: 'percentunit', decimals: 1, w: 6, h: 5,
      description: `Member active rate minus non-member active rate, with its 95% interval (Newcombe), over the ${LOYALTY_POPULATION}. An observed difference, not the program's effect: members chose to join.`,
      target: { doc: 'BoardLoyalty', root: 'data.loyaltyProgram', columns: [['activeRateDifference', 'number', 'Difference'], ['activeRateDifferenceLow', 'number', 'low'], ['activeRateDifferenceHigh', 'number', 'high']] },
    }),
    table({
      title: 'Members and non-members (${currency})', unit: 'short', w: 12, h: 6,
      description: `Per group of the ${LOYALTY_POPULATION}: the active rate with its 95% Wilson interval, orders and net revenue in \${currency} per customer.`,
      target: { doc: 'BoardLoyalty', root: LOYALTY_GROUPS, columns: [['group', 'string', 'Group'], ...LOYALTY_COLUMNS] },
      overrides: LOYALTY_OVERRIDES,
    }),
    table({
      title: 'Loyalty tiers (${currency})', unit: 'short', w: 12, h: 6,
      description: `The same figures per tier held at the start of the range (members with a tier only), over the ${LOYALTY_POPULATION}.`,
      target: { doc: 'BoardLoyalty', root: 'data.loyaltyProgram.tiers', columns: [['tier', 'string', 'Tier'], ...LOYALTY_COLUMNS] },
      overrides: LOYALTY_OVERRIDES,
    }),
    stat({
      title: 'Uplift of $campaign', unit: 'percentunit', decimals: 1, w: 8, h: 5,
      description: `Treated minus held-out 30-day conversion rate of the ${CAMPAIGN}, with its 95% interval (Newcombe). An interval containing 0 has not shown an effect yet.`,
      target: { doc: 'BoardFollowUps', root: 'data.followUpImpact', columns: [['uplift', 'number', 'Uplift'], ['upliftLow', 'number', 'low'], ['upliftHigh', 'number', 'high']] },
    }),
    stat({
      title: 'Incremental orders of $campaign', unit: 'short', decimals: 1, w: 8, h: 5,
      description: `Orders the campaign added within 30 days beyond the held-out pace, over the ${CAMPAIGN}; customers whose window is still open are pending.`,
      target: { doc: 'BoardFollowUps', root: 'data.followUpImpact', columns: [['incrementalOrders', 'number', 'Incremental orders'], ['pending', 'number', 'Pending customers']] },
    }),
    barchart({
      title: 'Conversion of $campaign: treated and held out', unit: 'percentunit', w: 8, h: 5, x: 'Group',
      description: `30-day conversion rate (a non-cancelled purchase after assignment) of the ${CAMPAIGN}, with the bounds of its 95% Wilson interval.`,
      target: { doc: 'BoardFollowUps', root: FOLLOW_UP_GROUPS, columns: [['group', 'string', 'Group'], ['conversionRateLow', 'number', 'low'], ['conversionRate', 'number', 'Conversion rate'], ['conversionRateHigh', 'number', 'high']] },
    }),
    table({
      title: 'Treated and held out of $campaign (${currency})', unit: 'short', w: 24, h: 6,
      description: `Per group of the ${CAMPAIGN}: customers, converted, conversion rate with its interval, orders and net revenue in \${currency} within each customer's window.`,
      target: { doc: 'BoardFollowUps', root: FOLLOW_UP_GROUPS, columns: [['group', 'string', 'Group'], ['customers', 'number', 'Customers'], ['converted', 'number', 'Converted'], ['conversionRate', 'number', 'Conversion rate'], ['conversionRateLow', 'number', 'low'], ['conversionRateHigh', 'number', 'high'], ['orders', 'number', 'Orders'], ['revenue', 'number', 'Net revenue']] },
      overrides: { 'Conversion rate': [unit('percentunit')], low: [unit('percentunit')], high: [unit('percentunit')], 'Net revenue': [{ id: 'decimals', value: 2 }] },
    }),
    table({
      title: 'Follow-up campaigns', unit: 'short', w: 24, h: 8,
      description: 'Every campaign with customers assigned in the range: sent, held out, and of the sent those who opened or clicked (from assignment on), with the rates.',
      target: { doc: 'BoardFollowUps', root: 'data.followUpCampaigns', columns: [['campaign', 'string', 'Campaign'], ['sent', 'number', 'Sent'], ['heldOut', 'number', 'Held out'], ['opened', 'number', 'Opened'], ['clicked', 'number', 'Clicked'], ['openRate', 'number', 'Open rate'], ['clickRate', 'number', 'Click rate']] },
      overrides: { 'Open rate': [unit('percentunit')], 'Click rate': [unit('percentunit')] },
    }),
  ],
};

export const BOARD_SPECS: BoardSpec[] = [overview, retention, value, voice, referrals, programs];

/** Grafana dashboard variables a panel refers to, from its documents' inlined text. */
function variablesOf(panels: Panel[]): string[] {
  const used = new Set<string>();
  const text = JSON.stringify(panels);
  for (const m of text.matchAll(/\$\{(\w+)(?::[^}]*)?\}|\$(\w+)/g)) used.add(m[1] ?? m[2]!);
  return VARIABLE_ORDER.filter((v) => used.has(v));
}

export function buildBoard(spec: BoardSpec): Dashboard {
  const b = new DashboardBuilder(spec.title)
    .uid(spec.uid)
    .description(spec.description)
    .tags(['kpi', 'executive'])
    .timezone('utc')
    // The last twelve complete months: the latest period of a stat is never a partial one.
    .time({ from: 'now-12M/M', to: 'now-1M/M' })
    .refresh('1h')
    .readonly()
    .annotations([])
    .link(new DashboardLinkBuilder('KPI boards').type(DashboardLinkType.Dashboards).tags(['kpi']).asDropdown(true).includeVars(true).keepTime(true));
  for (const p of spec.panels) b.withPanel(p);
  const board = b.build();
  // The SDK leaves panel ids to the caller.
  board.panels = (board.panels ?? []).map((p, i) => ({ ...p, id: i + 1 }));
  board.templating = { list: variablesOf(board.panels as Panel[]).map((v) => VARIABLES[v]!().build()) };
  return board;
}

export interface BoardFile {
  file: string;
  json: string;
}

export function buildBoards(): BoardFile[] {
  return BOARD_SPECS.map((spec) => ({ file: `${spec.uid}.json`, json: `${JSON.stringify(buildBoard(spec), null, 2)}\n` }));
}
