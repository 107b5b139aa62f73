import type { Executor, QueryContext } from '../server/storage/executor.js';
import { kpiLoader } from './kpi-loader.js';
import { fromChDateTime, ratio } from './sql.js';
import { npsImpactSql, voiceSeriesSql, type BandCounts, type NpsImpactArgs, type VoiceArgs, type VoiceKind } from './voice.sql.js';

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

/** Runs one kind's series and sums it into the totals; `zero` names the kind's counts. */
async function runSeries<C extends { responses: number }>(exec: Executor, ctx: QueryContext, kind: VoiceKind, a: VoiceArgs, zero: C, score: (c: C) => number | null) {
  const rows = await exec.rows<{ period_start: string } & C>(voiceSeriesSql(kind, a), ctx);
  const totals: Record<string, number> = { ...zero };
  const series = rows.map(({ period_start, ...rest }) => {
    const counts = rest as unknown as C;
    for (const k of Object.keys(zero)) totals[k]! += (counts as unknown as Record<string, number>)[k]!;
    return { periodStart: fromChDateTime(period_start), ...counts, score: score(counts) };
  });
  return { totals: totals as unknown as C, series };
}

export async function runNps(exec: Executor, ctx: QueryContext, a: VoiceArgs): Promise<NpsResult> {
  const zero: Counts<'NPS'> = { responses: 0, promoters: 0, passives: 0, detractors: 0 };
  const { totals, series } = await runSeries(exec, ctx, 'NPS', a, zero, npsScore);
  return { ...totals, score: npsScore(totals), marginOfError: npsMargin(totals), series };
}

export async function runCsat(exec: Executor, ctx: QueryContext, a: VoiceArgs): Promise<CsatResult> {
  const zero: Counts<'CSAT'> = { responses: 0, satisfied: 0 };
  const { totals, series } = await runSeries(exec, ctx, 'CSAT', a, zero, csatScore);
  return { ...totals, score: csatScore(totals), series };
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
  return {
    nps: kpiLoader((a: VoiceArgs) => runNps(exec, ctx, a)),
    csat: kpiLoader((a: VoiceArgs) => runCsat(exec, ctx, a)),
    npsImpact: kpiLoader((a: NpsImpactArgs) => runNpsImpact(exec, ctx, a)),
  };
}
