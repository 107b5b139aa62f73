// Survey score bands and each customer's latest NPS response: the thresholds and the
// "latest" rule live here once, for the voice KPIs (voice.sql.ts), npsImpact, the `npsGroup`
// filter (customer-filter.ts) and the NPS_GROUP breakdown (breakdown.sql.ts). A module of its
// own so the customer filter can use it without importing the voice KPIs that use the filter.
import { T } from './sql.js';

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

/** The NPS group of a customer (spec section 13): the `npsGroup` filter's values. */
export enum NpsGroup {
  PROMOTER = 'PROMOTER',
  PASSIVE = 'PASSIVE',
  DETRACTOR = 'DETRACTOR',
}

/** Each group's band, and its breakdown key (the enum value in lower case). */
const GROUP_BANDS: Record<NpsGroup, string> = {
  [NpsGroup.PROMOTER]: BANDS.NPS.promoters,
  [NpsGroup.PASSIVE]: BANDS.NPS.passives,
  [NpsGroup.DETRACTOR]: BANDS.NPS.detractors,
};

export function npsGroupKey(g: NpsGroup): string {
  return g.toLowerCase();
}

/**
 * Per customer with an NPS response for which `where` holds: `customer_id` and `score`, the
 * score of their latest such response. Latest is the greatest occurred_at; on a tie the one
 * received later (received_at), then the greater eventId, so a customer always has exactly
 * one. The inner rename to response_score keeps the outer alias score from shadowing the
 * column inside argMax.
 */
export function latestNpsScoreSql(where: string): string {
  return `
    SELECT customer_id, argMax(response_score, (occurred_at, received_at, event_id)) AS score
    FROM (SELECT customer_id, score AS response_score, occurred_at, received_at, event_id FROM ${T.surveys} WHERE kind = 'NPS' AND ${where})
    GROUP BY customer_id`;
}

/**
 * Per customer with an NPS response at or before `asOf` (a placeholder), whatever the survey:
 * `customer_id` and `nps_group`, the key (`promoter`, `passive`, `detractor`) of their latest
 * response's band.
 */
export function npsGroupsSql(asOf: string): string {
  const group = `multiIf(${Object.entries(GROUP_BANDS).map(([g, band]) => `${band}, '${npsGroupKey(g as NpsGroup)}'`).join(', ')}, NULL)`;
  return `SELECT customer_id, ${group} AS nps_group FROM (${latestNpsScoreSql(`occurred_at <= ${asOf}`)})`;
}
