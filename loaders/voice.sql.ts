import type { SqlQuery } from '../server/storage/executor.js';
import { withGroupKey, type Breakdown } from './breakdown.sql.js';
import { customerFilterSql, type CustomerFilterArgs } from './customer-filter.js';
import { periodIndex, periodStart, type Grain } from './grain.js';
import { zoneParams } from './zone.js';
import { ledgerSql } from './refunds.sql.js';
import { Params, T } from './sql.js';
import { BANDS, latestNpsScoreSql, type VoiceKind } from './survey-bands.sql.js';

export interface ResponseWindow {
  from: Date;
  to: Date;
  asOf: Date;
  surveyId: string | null;
  filter?: CustomerFilterArgs | null;
  /** A breakdown: each response takes its customer's group `key` (breakdown.sql.ts). */
  by?: Breakdown | null;
}

export interface VoiceArgs extends ResponseWindow {
  grain: Grain;
  timezone: string;
}

export interface NpsImpactArgs extends ResponseWindow {
  currency: string;
}

/** The responses of one kind that count: from <= occurred_at < to, nothing after asOf, optional survey and customer filter. */
function responses(kind: VoiceKind, a: ResponseWindow, p: Params): { where: string; asOf: string } {
  const asOf = p.time(a.asOf, 'asOf');
  const filter = customerFilterSql(a.filter, asOf, p);
  const where = [
    `kind = ${p.add('String', kind, 'kind')}`,
    `occurred_at >= ${p.time(a.from, 'from')}`,
    `occurred_at < ${p.time(a.to, 'to')}`,
    `occurred_at <= ${asOf}`,
    ...(a.surveyId === null ? [] : [`survey_id = ${p.add('String', a.surveyId, 'surveyId')}`]),
    ...(filter ? [filter] : []),
  ].join(' AND ');
  return { where, asOf };
}

/**
 * Per group key (NULL without a breakdown) and period with at least one response, oldest
 * first: responses and the count of each band. Totals are the sums of a key's rows, since
 * every response falls in exactly one period.
 */
export function voiceSeriesSql(kind: VoiceKind, a: VoiceArgs): SqlQuery {
  const p = new Params();
  const zone = zoneParams(p, a.grain, a.timezone);
  const bands = Object.entries(BANDS[kind]).map(([name, condition]) => `countIf(${condition}) AS ${name}`);
  const { where, asOf } = responses(kind, a, p);
  const rows = withGroupKey(`SELECT customer_id, score, ${periodIndex(a.grain, 'occurred_at', zone)} AS period FROM ${T.surveys} WHERE ${where}`, a.by, asOf, p);
  return p.sql(`
    SELECT key, toString(${periodStart(a.grain, 'period', zone)}) AS period_start, count() AS responses, ${bands.join(', ')}
    FROM (${rows})
    GROUP BY key, period ORDER BY key, period`);
}

/**
 * Per NPS bucket: customers whose latest response in the window falls in it, and their
 * orders up to asOf (every currency for orders, `currency` only for net revenue, summed as
 * Decimal; refunds.sql.ts). The latest response is survey-bands.sql.ts's rule, so a customer
 * always lands in exactly one bucket.
 */
export function npsImpactSql(a: NpsImpactArgs): SqlQuery {
  const p = new Params();
  const { where, asOf } = responses('NPS', a, p);
  const bucket = `multiIf(${Object.entries(BANDS.NPS).map(([name, condition]) => `${condition}, '${name}'`).join(', ')}, '')`;
  return p.sql(`
    WITH latest AS (${latestNpsScoreSql(where)}),
    bought AS (
      SELECT customer_id, countIf(is_order = 1) AS orders, sumIf(amount, currency = ${p.add('String', a.currency, 'currency')}) AS revenue
      FROM (${ledgerSql(asOf, p.source, 'customer_id IN (SELECT customer_id FROM latest)')})
      GROUP BY customer_id
    )
    SELECT ${bucket} AS bucket, count() AS customers, countIf(b.orders >= 2) AS repeat_customers,
           sum(b.orders) AS orders, sum(b.revenue) AS revenue
    FROM latest AS l LEFT JOIN bought AS b ON b.customer_id = l.customer_id
    GROUP BY bucket`);
}
