import type { SqlQuery } from '../server/storage/executor.js';
import { customerFilterSql, type CustomerFilterArgs } from './customer-filter.js';
import { periodIndex, periodStart, type Grain } from './grain.js';
import { ledgerSql } from './refunds.sql.js';
import { Params, T } from './sql.js';

export type VoiceKind = 'NPS' | 'CSAT';

/**
 * Score bands per survey kind (spec section 7), the one place the thresholds live: every
 * NPS and CSAT count, and the npsImpact buckets, are built from these conditions on `score`.
 */
export const BANDS = {
  NPS: { promoters: 'score >= 9', passives: 'score BETWEEN 7 AND 8', detractors: 'score <= 6' },
  CSAT: { satisfied: 'score >= 4' },
} as const satisfies Record<VoiceKind, Record<string, string>>;

export type BandCounts<K extends VoiceKind> = Record<keyof (typeof BANDS)[K], number>;

export interface ResponseWindow {
  from: Date;
  to: Date;
  asOf: Date;
  surveyId: string | null;
  filter?: CustomerFilterArgs | null;
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
 * Per period with at least one response, oldest first: responses and the count of each band.
 * Totals are the sums of these rows, since every response falls in exactly one period.
 */
export function voiceSeriesSql(kind: VoiceKind, a: VoiceArgs): SqlQuery {
  const p = new Params();
  const tz = p.add('String', a.timezone, 'tz');
  const bands = Object.entries(BANDS[kind]).map(([name, condition]) => `countIf(${condition}) AS ${name}`);
  return p.sql(`
    SELECT toString(${periodStart(a.grain, 'period', tz)}) AS period_start, count() AS responses, ${bands.join(', ')}
    FROM (SELECT score, ${periodIndex(a.grain, 'occurred_at', tz)} AS period FROM ${T.surveys} WHERE ${responses(kind, a, p).where})
    GROUP BY period ORDER BY period`);
}

/**
 * Per NPS bucket: customers whose latest response in the window falls in it, and their
 * orders up to asOf (every currency for orders, `currency` only for net revenue, summed as
 * Decimal; refunds.sql.ts). Ties on occurred_at go to the response received later, then the greater eventId,
 * so a customer always lands in exactly one bucket. The inner rename to response_score keeps
 * the outer alias score from shadowing the column inside argMax.
 */
export function npsImpactSql(a: NpsImpactArgs): SqlQuery {
  const p = new Params();
  const { where, asOf } = responses('NPS', a, p);
  const bucket = `multiIf(${Object.entries(BANDS.NPS).map(([name, condition]) => `${condition}, '${name}'`).join(', ')}, '')`;
  return p.sql(`
    WITH latest AS (
      SELECT customer_id, argMax(response_score, (occurred_at, received_at, event_id)) AS score
      FROM (SELECT customer_id, score AS response_score, occurred_at, received_at, event_id FROM ${T.surveys} WHERE ${where})
      GROUP BY customer_id
    ),
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
