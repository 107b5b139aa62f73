import type { Executor, QueryContext } from '../server/storage/executor.js';
import { breakdownLoader, rowsByKey, wholeLoader } from './breakdown.js';
import { kpiLoader } from './kpi-loader.js';
import { fromChDateTime, ratio } from './sql.js';
import { npsImpactSql, voiceSeriesSql, type NpsImpactArgs, type VoiceArgs } from './voice.sql.js';
import type { BandCounts, VoiceKind } from './survey-bands.sql.js';

type Counts<K extends VoiceKind> = { responses: number } & BandCounts<K>;
type Point<K extends VoiceKind> = Counts<K> & { periodStart: Date; score: number | null };

export type NpsPointResult = Point<'NPS'>;
export type CsatPointResult = Point<'CSAT'>;

export interface NpsResult extends Counts<'NPS'> {
  score: number | null;
  marginOfError: number | null;
  series: NpsPointResult[];
}

export interface CsatResult extends Counts<'CSAT'> {
  score: number | null;
  series: CsatPointResult[];
}

export interface NpsBucketResult {
  customers: number;
  repeatCustomers: number;
  repeatRate: number | null;
  revenuePerCustomer: number | null;
  ordersPerCustomer: number | null;
}

export interface NpsImpactResult {
  currency: string;
  promoters: NpsBucketResult;
  passives: NpsBucketResult;
  detractors: NpsBucketResult;
}

/** -100..100; null without responses. */
function npsScore(c: Counts<'NPS'>): number | null {
  return c.responses === 0 ? null : (100 * (c.promoters - c.detractors)) / c.responses;
}

/** 0..100; null without responses. */
function csatScore(c: Counts<'CSAT'>): number | null {
  return c.responses === 0 ? null : (100 * c.satisfied) / c.responses;
}

/** 95% margin of the NPS from the promoter and detractor shares; one response has no spread to speak of. */
function npsMargin(c: Counts<'NPS'>): number | null {
  const n = c.responses;
  if (n < 2) return null;
  const p = c.promoters / n;
  const d = c.detractors / n;
  return 100 * 1.96 * Math.sqrt((p + d - (p - d) ** 2) / n);
}

/**
 * Runs one kind's series and sums each group key's rows into its totals (one key, NULL,
 * without a breakdown); `zero` names the kind's counts.
 */
async function runSeries<C extends { responses: number }, R>(
  exec: Executor,
  ctx: QueryContext,
  kind: VoiceKind,
  a: VoiceArgs,
  report: (rows: SeriesRow<C>[]) => R,
): Promise<Map<string | null, R>> {
  const rows = await exec.rows<SeriesRow<C>>(voiceSeriesSql(kind, a), ctx);
  return new Map([...rowsByKey(rows)].map(([key, group]) => [key, report(group)]));
}

type SeriesRow<C> = { key: string | null; period_start: string } & C;

function seriesOf<C extends { responses: number }>(rows: ({ key: string | null; period_start: string } & C)[], zero: C, score: (c: C) => number | null) {
  const totals: Record<string, number> = { ...zero };
  const series = rows.map(({ period_start, key: _key, ...rest }) => {
    const counts = rest as unknown as C;
    for (const k of Object.keys(zero)) totals[k]! += (counts as unknown as Record<string, number>)[k]!;
    return { periodStart: fromChDateTime(period_start), ...counts, score: score(counts) };
  });
  return { totals: totals as unknown as C, series };
}

/** An NPS report from its series rows (none: no responses). */
function npsReport(rows: SeriesRow<Counts<'NPS'>>[]): NpsResult {
  const { totals, series } = seriesOf(rows, { responses: 0, promoters: 0, passives: 0, detractors: 0 }, npsScore);
  return { ...totals, score: npsScore(totals), marginOfError: npsMargin(totals), series };
}

function csatReport(rows: SeriesRow<Counts<'CSAT'>>[]): CsatResult {
  const { totals, series } = seriesOf(rows, { responses: 0, satisfied: 0 }, csatScore);
  return { ...totals, score: csatScore(totals), series };
}

/** NPS per group key (one key, NULL, without a breakdown); a group without responses has no entry. */
export function runNps(exec: Executor, ctx: QueryContext, a: VoiceArgs): Promise<Map<string | null, NpsResult>> {
  return runSeries(exec, ctx, 'NPS', a, npsReport);
}

export function runCsat(exec: Executor, ctx: QueryContext, a: VoiceArgs): Promise<Map<string | null, CsatResult>> {
  return runSeries(exec, ctx, 'CSAT', a, csatReport);
}

type ImpactRow = { bucket: string; customers: number; repeat_customers: number; orders: number; revenue: number };

function bucket(row: ImpactRow | undefined): NpsBucketResult {
  const { customers = 0, repeat_customers = 0, orders = 0, revenue = 0 } = row ?? {};
  return {
    customers,
    repeatCustomers: repeat_customers,
    repeatRate: ratio(repeat_customers, customers),
    revenuePerCustomer: ratio(revenue, customers),
    ordersPerCustomer: ratio(orders, customers),
  };
}

export async function runNpsImpact(exec: Executor, ctx: QueryContext, a: NpsImpactArgs): Promise<NpsImpactResult> {
  const rows = await exec.rows<ImpactRow>(npsImpactSql(a), ctx);
  const of = (name: string) => bucket(rows.find((r) => r.bucket === name));
  return { currency: a.currency, promoters: of('promoters'), passives: of('passives'), detractors: of('detractors') };
}

export function voiceLoaders(exec: Executor, ctx: QueryContext) {
  const nps = (a: VoiceArgs) => runNps(exec, ctx, a);
  const csat = (a: VoiceArgs) => runCsat(exec, ctx, a);
  return {
    nps: wholeLoader(nps, () => npsReport([])),
    npsBy: breakdownLoader(nps, (v) => v.responses > 0),
    csat: wholeLoader(csat, () => csatReport([])),
    csatBy: breakdownLoader(csat, (v) => v.responses > 0),
    npsImpact: kpiLoader((a: NpsImpactArgs) => runNpsImpact(exec, ctx, a)),
  };
}
