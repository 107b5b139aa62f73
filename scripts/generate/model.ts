/**
 * The behaviour of the simulated store: when customers arrive, who they are, how often they
 * come back, how satisfied they are. store.ts turns these draws into events.
 */
import { Calendar, DAY_MS } from './calendar.js';
import { Rng, Weighted } from './prng.js';

export type Segment = 'consumer' | 'smb' | 'enterprise';

export const COUNTRIES = new Weighted<string>([
  ['US', 38], ['GB', 12], ['DE', 10], ['FR', 8], ['CA', 7],
  ['NL', 5], ['ES', 5], ['AU', 6], ['IT', 5], ['SE', 4],
]);
/** Eurozone customers pay in EUR this often, which puts ~10% of orders in EUR. */
export const EURO_COUNTRIES = new Set(['DE', 'FR', 'NL', 'ES', 'IT']);
export const EUR_SHARE_IN_EUROZONE = 0.31;
/** 'referral' is reserved for customers who signed up through a referral. */
export const ORGANIC_CHANNELS = new Weighted<string>([
  ['organic', 36], ['paid_search', 27], ['social', 20], ['email', 17],
]);
export const SEGMENTS = new Weighted<Segment>([['consumer', 80], ['smb', 17], ['enterprise', 3]]);
export const ORDER_CHANNELS = new Weighted<string>([['web', 62], ['app', 33], ['phone', 5]]);
export const INVITE_CHANNELS = new Weighted<string>([['email', 50], ['link', 35], ['social', 15]]);

/** Median order value (USD) of a consumer; smb and enterprise buy bigger baskets. */
const MEDIAN_ORDER_USD = 42;
const SEGMENT_BASKET: Record<Segment, number> = { consumer: 1, smb: 1.5, enterprise: 3 };
const EUR_PER_USD = 0.92;

/**
 * Share of customers drawn as one-time buyers. Repeaters who churn early or arrive late also
 * end with a single order, so the observed one-time share is ~57%.
 */
const ONE_TIME_SHARE = { organic: 0.47, referred: 0.38 };
/** Mean active lifetime (days) of a repeat buyer; churn is the end of it. */
const LIFETIME_DAYS = { organic: 260, referred: 340 };

/** Referral funnel: of all referrals, how many are clicked and how many sign up. */
export const CLICK_RATE = 0.4;
export const SIGNUP_RATE = 0.25;
/** What signed-up referred customers do: buy within the attribution window, later, or never. */
const REFERRED_OUTCOME = { inWindow: 0.8, late: 0.07 };
export const ATTRIBUTION_WINDOW_MS = 90 * DAY_MS;

export interface Traits {
  /** Latent satisfaction: drives loyalty, purchase frequency and survey answers. */
  satisfaction: number;
  oneTime: boolean;
  lifetimeMs: number;
  /** Multiplies the store-wide mean gap between purchases. */
  gapFactor: number;
  /** Median order value of this customer in cents of their currency. */
  medianCents: number;
}

export function drawTraits(rng: Rng, referred: boolean, segment: Segment, eur: boolean): Traits {
  const satisfaction = rng.normal();
  const group = referred ? 'referred' : 'organic';
  const oneTimeP = Math.min(0.95, Math.max(0.05, ONE_TIME_SHARE[group] - 0.08 * satisfaction));
  const oneTime = rng.chance(oneTimeP);
  const lifetimeMs = rng.exp(LIFETIME_DAYS[group] * Math.exp(0.25 * satisfaction)) * DAY_MS;
  // Wide spread: a few heavy buyers carry many orders while most repeaters buy now and then,
  // which is what lets ~5 orders per customer coexist with month-1 retention near 25%.
  const gapFactor = Math.min(8, Math.max(0.12, Math.exp(1.0 * rng.normal() - 0.2 * satisfaction)));
  const medianCents = MEDIAN_ORDER_USD * 100 * SEGMENT_BASKET[segment]
    * Math.exp(0.3 * rng.normal()) * (eur ? EUR_PER_USD : 1);
  return { satisfaction, oneTime, lifetimeMs, gapFactor, medianCents };
}

/** Order amount in cents, log-normal around the customer's median, at least 1.00. */
export function drawCents(rng: Rng, traits: Traits): number {
  return Math.max(100, Math.round(traits.medianCents * Math.exp(0.55 * rng.normal())));
}

/**
 * First purchase of a referred customer who signed up at `signupMs` for a referral started at
 * `inviteMs`: mostly within days, some after the attribution window, some never (null).
 */
export function referredFirstPurchase(rng: Rng, inviteMs: number, signupMs: number): number | null {
  const u = rng.next();
  if (u < REFERRED_OUTCOME.inWindow) {
    const latest = inviteMs + ATTRIBUTION_WINDOW_MS;
    const t = signupMs + 600_000 + rng.exp(6 * DAY_MS);
    return t <= latest ? t : signupMs + rng.next() * (latest - signupMs);
  }
  if (u < REFERRED_OUTCOME.inWindow + REFERRED_OUTCOME.late) {
    return inviteMs + ATTRIBUTION_WINDOW_MS + DAY_MS + rng.next() * 120 * DAY_MS;
  }
  return null;
}

/**
 * Refunds (issue 15): of all orders, this share is cancelled (refunded in full, in one refund or
 * two that add up to the amount) and this share partially refunded (10-60% of the amount).
 * Refunds come up to 60 days after the order.
 */
export const REFUND_RATES = { cancelled: 0.02, partial: 0.01 } as const;
const CANCEL_IN_TWO_SHARE = 0.5;
const PARTIAL_SHARE = { min: 0.1, max: 0.6 } as const;
const REFUND_DELAY_MS = 60 * DAY_MS;

/** One refund of an order: when (epoch ms) and how much (cents). */
export interface RefundDraw {
  at: number;
  cents: number;
}

/**
 * The refunds of an order of `cents` placed at `orderedAt`, none of them at or after `endMs`:
 * usually none. Each date is uniform over the 60 days after the order, or over what is left of
 * them before `endMs` (the demo's end is the start of the current month, so no refund lies in
 * the future). Drawn from `rng` whatever the outcome, two draws per order, so the stream of
 * outcomes does not depend on the amounts.
 */
export function drawRefunds(rng: Rng, orderedAt: number, cents: number, endMs: number): RefundDraw[] {
  const u = rng.next();
  const v = rng.next();
  if (u >= REFUND_RATES.cancelled + REFUND_RATES.partial) return [];
  const span = Math.max(0, Math.min(REFUND_DELAY_MS, endMs - 1 - orderedAt));
  const at = (): number => orderedAt + rng.next() * span;
  if (u >= REFUND_RATES.cancelled) {
    const share = PARTIAL_SHARE.min + v * (PARTIAL_SHARE.max - PARTIAL_SHARE.min);
    return [{ at: at(), cents: Math.min(cents - 1, Math.max(1, Math.round(cents * share))) }];
  }
  // Cancelled: v picks one refund or two (split anywhere, each at least one cent).
  if (v >= CANCEL_IN_TWO_SHARE || cents < 2) return [{ at: at(), cents }];
  const first = 1 + rng.int(cents - 1);
  return [{ at: at(), cents: first }, { at: at(), cents: cents - first }].sort((a, b) => a.at - b.at);
}

/** NPS answer 0..10: detractors mostly answer 5-6, passives 7-8, promoters 9-10. */
const DETRACTOR_SCORES = [0, 1, 2, 3, 4, 4, 5, 5, 5, 6, 6, 6, 6] as const;
export function drawNps(rng: Rng, traits: Traits): number {
  const v = 0.8 * traits.satisfaction + 0.6 * rng.normal();
  if (v < -0.5) return DETRACTOR_SCORES[rng.int(DETRACTOR_SCORES.length)]!;
  if (v < 0.2) return v < -0.15 ? 7 : 8;
  return v < 0.8 ? 9 : 10;
}

/** CSAT answer 1..5; the answers that come in are about 75% satisfied (4-5). */
export function drawCsat(rng: Rng, traits: Traits): number {
  const v = 0.7 * traits.satisfaction + 0.7 * rng.normal();
  if (v < -1.45) return 1;
  if (v < -1.05) return 2;
  if (v < -0.45) return 3;
  return v < 0.35 ? 4 : 5;
}

/**
 * Acquisition instants of `n` customers, sorted: stratified draws from a daily density with
 * a growth trend, a Nov/Dec peak and quieter weekends. Sorted order lets a referral pick a
 * referrer among the customers who already existed by binary search.
 */
export function acquisitionTimes(rng: Rng, cal: Calendar, startMs: number, endMs: number, n: number): Float64Array {
  const lo = new Float64Array(cal.days);
  const hi = new Float64Array(cal.days);
  const cumulative = new Float64Array(cal.days + 1);
  for (let d = 0; d < cal.days; d++) {
    lo[d] = Math.max(startMs, cal.firstDayMs + d * DAY_MS);
    hi[d] = Math.min(endMs, cal.firstDayMs + (d + 1) * DAY_MS);
    const covered = Math.max(0, hi[d]! - lo[d]!) / DAY_MS;
    const month = cal.monthOfYear(d);
    const season = month === 10 ? 1.6 : month === 11 ? 1.9 : month === 0 ? 0.9 : 1;
    const weekday = cal.weekday(d);
    const week = weekday === 0 || weekday === 6 ? 0.85 : 1;
    const trend = 1 + (0.6 * d) / cal.days;
    cumulative[d + 1] = cumulative[d]! + covered * season * week * trend;
  }
  const total = cumulative[cal.days]!;
  const times = new Float64Array(n);
  let d = 0;
  for (let i = 0; i < n; i++) {
    const target = ((i + rng.next()) / n) * total;
    while (d < cal.days - 1 && cumulative[d + 1]! <= target) d++;
    const weight = cumulative[d + 1]! - cumulative[d]!;
    const frac = weight > 0 ? (target - cumulative[d]!) / weight : 0;
    const t = Math.floor(lo[d]! + frac * (hi[d]! - lo[d]!));
    times[i] = Math.min(Math.max(t, startMs), endMs - 1);
  }
  return times;
}

/** Relative purchase intensity per day (peak season), normalised to mean 1 over the span. */
export function purchaseSeason(cal: Calendar): Float64Array {
  const season = new Float64Array(cal.days);
  let sum = 0;
  for (let d = 0; d < cal.days; d++) {
    const month = cal.monthOfYear(d);
    season[d] = month === 10 ? 1.25 : month === 11 ? 1.45 : month === 0 ? 0.85 : 1;
    sum += season[d]!;
  }
  for (let d = 0; d < cal.days; d++) season[d] = season[d]! / (sum / cal.days);
  return season;
}

/**
 * The store-wide mean gap between a repeat buyer's purchases that makes the expected number of
 * purchases meet the target. Repeat purchases form a Poisson process over each customer's
 * remaining lifetime, so their expected count is sum(lifetime / gap): estimated here by
 * sampling customers with a separate generator, so the main stream is unaffected.
 */
export function calibrateMeanGapMs(
  seed: number, acq: Float64Array, endMs: number, referredShare: number, purchases: number,
): number {
  const rng = new Rng(seed ^ 0x2545f491);
  const samples = Math.min(32_768, acq.length * 4);
  let buyers = 0;
  let exposure = 0;
  for (let k = 0; k < samples; k++) {
    const acquiredAt = acq[Math.floor(((k + 0.5) * acq.length) / samples)]!;
    const referred = rng.chance(referredShare);
    const traits = drawTraits(rng, referred, SEGMENTS.draw(rng), false);
    const first = referred ? referredFirstPurchase(rng, acquiredAt - 3 * DAY_MS, acquiredAt) : acquiredAt;
    if (first === null || first >= endMs) continue;
    buyers++;
    if (!traits.oneTime) exposure += Math.min(traits.lifetimeMs, endMs - first) / traits.gapFactor;
  }
  const scale = acq.length / samples;
  const repeatPurchases = purchases - buyers * scale;
  if (repeatPurchases <= 0 || exposure === 0) return Number.POSITIVE_INFINITY;
  return (exposure * scale) / repeatPurchases;
}
