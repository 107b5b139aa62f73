/**
 * A deterministic, streaming generator of a realistic store's events in the NDJSON shape of
 * kpi-spec section 1. Used by `npm run demo` (fills the embedded store) and by benchmarks.
 *
 * Customers are generated one at a time in acquisition order, each with their whole history
 * (profile, purchases, surveys, refunds, a later profile version), so memory is O(customers):
 * one acquisition instant and one flag per customer. Events are therefore not globally sorted by
 * time, but every customer's events follow their own timeline (their refunds, sorted, come after
 * their last purchase, as refunds that arrive late do), and nothing is at or after `end`.
 */
import { Calendar, DAY_MS, formatCents } from './calendar.js';
import {
  CLICK_RATE, COUNTRIES, EURO_COUNTRIES, EUR_SHARE_IN_EUROZONE,
  INVITE_CHANNELS, ORDER_CHANNELS, ORGANIC_CHANNELS, SEGMENTS, SIGNUP_RATE, type Segment,
  type Traits, acquisitionTimes, calibrateMeanGapMs, drawCents, drawCsat, drawNps, drawTraits,
  type RefundDraw, drawRefunds, purchaseSeason, referredFirstPurchase,
} from './model.js';
import { Rng } from './prng.js';
import { drawFollowUp, drawLoyalty, type LoyaltyAction, type TouchStage } from './programs.js';

export interface StoreOptions {
  /** Customers with a profile (default 20 000); exact. */
  customers?: number;
  /** Approximate number of purchases (default 100 000). */
  purchases?: number;
  /** ISO instant; default 2 years before `end`. */
  start?: string;
  /**
   * ISO instant, exclusive. Required and never read from the clock here: the caller decides
   * (the demo derives it from the day it loads with `storeEndFor`), so a given end always
   * gives the same store.
   */
  end: string;
  seed?: number;
  /** Approximate number of survey responses, ~40% NPS and ~60% CSAT (default 12% of purchases). */
  surveys?: number;
  /** Referrals, i.e. distinct referralIds (default 30% of customers); exact. */
  referrals?: number;
}

export interface PurchaseEvent {
  type: 'purchase';
  eventId: string;
  customerId: string;
  occurredAt: string;
  amount: string;
  currency: 'USD' | 'EUR';
  orderId: string;
  channel: string;
}

/** Spec section 12: `orderId` names the purchase it refunds (same customer and currency). */
export interface RefundEvent {
  type: 'refund';
  eventId: string;
  customerId: string;
  orderId: string;
  occurredAt: string;
  amount: string;
  currency: 'USD' | 'EUR';
}

export interface ReferralEvent {
  type: 'referral';
  eventId: string;
  referralId: string;
  stage: 'INVITED' | 'CLICKED' | 'SIGNED_UP';
  referrerId: string;
  referredCustomerId?: string;
  occurredAt: string;
  channel: string;
}

export interface SurveyEvent {
  type: 'survey';
  eventId: string;
  customerId: string;
  surveyId: string;
  kind: 'NPS' | 'CSAT';
  score: number;
  occurredAt: string;
  comment?: string;
}

export interface CustomerEvent {
  type: 'customer';
  eventId: string;
  customerId: string;
  occurredAt: string;
  country?: string;
  channel?: string;
  segment?: string;
}

/** Spec section 14. */
export interface LoyaltyEvent {
  type: 'loyalty';
  eventId: string;
  customerId: string;
  occurredAt: string;
  action: LoyaltyAction;
  tier?: string;
  points?: number;
}

/** Spec section 15. */
export interface TouchEvent {
  type: 'touch';
  eventId: string;
  customerId: string;
  occurredAt: string;
  campaign: string;
  stage: TouchStage;
  channel: string;
}

export type StoreEvent = PurchaseEvent | RefundEvent | ReferralEvent | SurveyEvent | CustomerEvent | LoyaltyEvent | TouchEvent;

export interface ResolvedStoreOptions {
  customers: number;
  purchases: number;
  surveys: number;
  referrals: number;
  seed: number;
  startMs: number;
  endMs: number;
}

const BASE = { customers: 20_000, purchases: 100_000, surveys: 12_000, referrals: 6_000 } as const;
const MIN_MS = Date.UTC(1970, 0, 1);
const MAX_MS = Date.UTC(2100, 0, 1);

/** The volumes of a store; the span is the caller's. */
export type StoreVolumes = Omit<StoreOptions, 'start' | 'end' | 'seed'>;

/** Volumes for `scale` times the default store (scale 1 = 20k customers, 100k purchases). */
export function scaled(scale: number): StoreVolumes {
  if (!(scale > 0) || !Number.isFinite(scale)) throw new RangeError(`scale must be a positive number, got ${scale}`);
  return {
    customers: Math.max(1, Math.round(BASE.customers * scale)),
    purchases: Math.round(BASE.purchases * scale),
    surveys: Math.round(BASE.surveys * scale),
    referrals: Math.round(BASE.referrals * scale),
  };
}

function parseInstant(name: string, value: string): number {
  // The spec rejects zone-less timestamps; Date.parse would read them as local time.
  if (!/(Z|[+-]\d{2}:\d{2})$/.test(value)) throw new RangeError(`${name} must carry a zone: ${value}`);
  const ms = Date.parse(value);
  if (Number.isNaN(ms) || ms < MIN_MS || ms > MAX_MS) throw new RangeError(`${name} is not a valid instant: ${value}`);
  return ms;
}

function count(name: string, value: number, min: number): number {
  if (!Number.isInteger(value) || value < min) throw new RangeError(`${name} must be an integer >= ${min}, got ${value}`);
  return value;
}

/**
 * The end of a store loaded on `day` (YYYY-MM-DD, UTC): the first instant of that day's
 * month. Its last month is then the complete month before `day`, which is the last month of
 * the boards' default range (the last twelve complete months).
 */
export function storeEndFor(day: string): string {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day);
  // Date.parse rolls 2026-02-30 over to March: a round trip tells a real day.
  const ms = m ? Date.parse(`${day}T00:00:00Z`) : Number.NaN;
  if (!m || Number.isNaN(ms) || new Date(ms).toISOString().slice(0, 10) !== day) {
    throw new RangeError(`end must be a day as YYYY-MM-DD, got ${JSON.stringify(day)}`);
  }
  return `${m[1]}-${m[2]}-01T00:00:00Z`;
}

export function resolveStoreOptions(opts: StoreOptions): ResolvedStoreOptions {
  const endMs = parseInstant('end', opts.end);
  let startMs: number;
  if (opts.start !== undefined) {
    startMs = parseInstant('start', opts.start);
  } else {
    const end = new Date(endMs);
    startMs = end.setUTCFullYear(end.getUTCFullYear() - 2);
  }
  if (!(endMs - startMs >= DAY_MS)) throw new RangeError('end must be at least one day after start');
  const customers = count('customers', opts.customers ?? BASE.customers, 1);
  const purchases = count('purchases', opts.purchases ?? BASE.purchases, 0);
  return {
    customers,
    purchases,
    surveys: count('surveys', opts.surveys ?? Math.round((purchases * BASE.surveys) / BASE.purchases), 0),
    referrals: count('referrals', opts.referrals ?? Math.round((customers * BASE.referrals) / BASE.customers), 0),
    seed: opts.seed ?? 1,
    startMs,
    endMs,
  };
}

const pad = (n: number): string => String(n).padStart(6, '0');
export const customerIdOf = (index: number): string => `c-${pad(index + 1)}`;

const SECOND_PROFILE_SHARE = 0.12;
const NO_COUNTRY_SHARE = 0.02;
const COMMENT_SHARE = 0.08;
const NPS_SHARE = 0.4;
/** Customers answer NPS at most once a quarter, which drops about this share of invitations. */
const NPS_QUARTER_DEDUP_LOSS = 0.2;
const COMMENTS = {
  low: ['Delivery took far too long.', 'Support never answered my email.', 'Item arrived damaged.'],
  mid: ['Fine, nothing special.', 'Prices went up a bit.', 'Checkout was a little slow.'],
  high: ['Great service, will buy again!', 'Fast shipping and good quality.', 'Love the new app.'],
} as const;
const NEXT_SEGMENT: Record<Segment, readonly Segment[]> = {
  consumer: ['smb', 'smb', 'smb', 'enterprise'],
  smb: ['enterprise', 'enterprise', 'consumer'],
  enterprise: ['smb'],
};

export function* generateStore(opts: StoreOptions): Generator<StoreEvent, void, undefined> {
  const o = resolveStoreOptions(opts);
  const { startMs, endMs } = o;
  const n = o.customers;
  const cal = new Calendar(startMs, endMs);
  const rng = new Rng(o.seed);
  // Refunds draw from their own stream, so adding them left every other event as it was.
  const refundRng = new Rng(o.seed ^ 0x7f4a7c15);
  // The programs too (scripts/generate/programs.ts).
  const programRng = new Rng(o.seed ^ 0x2c1b3c6d);
  const acq = acquisitionTimes(rng, cal, startMs, endMs, n);
  const season = purchaseSeason(cal);
  const repeatBuyer = new Uint8Array(n);

  // Referred customers are drawn from those acquired after a short warm-up, so that some
  // customer already exists to invite them. Exactly `signups` are chosen (selection sampling).
  const warmupMs = Math.min(21 * DAY_MS, (endMs - startMs) / 10);
  const warmup = Math.min(n, Math.max(1, lowerBound(acq, startMs + warmupMs)));
  const eligible = n - warmup;
  const signups = Math.min(Math.round(o.referrals * SIGNUP_RATE), eligible);
  const others = o.referrals - signups;
  const clickOthers = others > 0 ? Math.min(1, Math.max(0, (CLICK_RATE * o.referrals - signups) / others)) : 0;
  let chosen = 0;

  const meanGapMs = calibrateMeanGapMs(o.seed, acq, endMs, signups / n, o.purchases);
  const pCsat = o.purchases > 0 ? Math.min(1, (o.surveys * (1 - NPS_SHARE)) / o.purchases) : 0;
  const pNps = o.purchases > 0
    ? Math.min(1, (o.surveys * NPS_SHARE) / (1 - NPS_QUARTER_DEDUP_LOSS) / o.purchases) : 0;

  let purchaseSeq = 0;
  let refundSeq = 0;
  let referralEventSeq = 0;
  let referralSeq = 0;
  let surveySeq = 0;
  let profileSeq = 0;
  let loyaltySeq = 0;
  let touchSeq = 0;
  let conversionSeq = 0;

  /** A referrer who existed before `at`, preferably a repeat buyer (advocates refer more). */
  const pickReferrer = (at: number): number => {
    const known = Math.max(1, lowerBound(acq, at));
    let j = rng.int(known);
    for (let tries = 0; tries < 2 && repeatBuyer[j] === 0; tries++) j = rng.int(known);
    return j;
  };

  function* referral(referrer: number, invitedAt: number, clickedAt: number | null,
    signedUpAt: number | null, referred: string | null): Generator<ReferralEvent> {
    const referralId = `ref-${pad(++referralSeq)}`;
    const referrerId = customerIdOf(referrer);
    const channel = INVITE_CHANNELS.draw(rng);
    const base = { referralId, referrerId, channel } as const;
    yield { type: 'referral', eventId: `r-${pad(++referralEventSeq)}`, ...base, stage: 'INVITED', occurredAt: cal.iso(invitedAt) };
    if (clickedAt === null) return;
    yield { type: 'referral', eventId: `r-${pad(++referralEventSeq)}`, ...base, stage: 'CLICKED', occurredAt: cal.iso(clickedAt) };
    if (signedUpAt === null || referred === null) return;
    yield {
      type: 'referral', eventId: `r-${pad(++referralEventSeq)}`, ...base, stage: 'SIGNED_UP',
      referredCustomerId: referred, occurredAt: cal.iso(signedUpAt),
    };
  }

  const comment = (score: number, low: number, high: number): string | undefined => {
    if (!rng.chance(COMMENT_SHARE)) return undefined;
    const pool = score <= low ? COMMENTS.low : score >= high ? COMMENTS.high : COMMENTS.mid;
    return pool[rng.int(pool.length)];
  };

  // Plain functions returning an event or null rather than nested generators: a generator
  // object per purchase would cost more than building the purchase itself.
  const csatAfter = (customerId: string, traits: Traits, purchasedAt: number): SurveyEvent | null => {
    if (!rng.chance(pCsat)) return null;
    const at = purchasedAt + 3_600_000 + rng.exp(2 * DAY_MS);
    const score = drawCsat(rng, traits);
    if (at >= endMs) return null;
    const event: SurveyEvent = {
      type: 'survey', eventId: `s-${pad(++surveySeq)}`, customerId, surveyId: 'csat-post-purchase',
      kind: 'CSAT', score, occurredAt: cal.iso(at),
    };
    const text = comment(score, 2, 5);
    if (text !== undefined) event.comment = text;
    return event;
  };

  /** At most one NPS answer per customer and quarter; `lastSurveyId` is their previous one's. */
  const npsAfter = (customerId: string, traits: Traits, purchasedAt: number, lastSurveyId: string): SurveyEvent | null => {
    if (!rng.chance(pNps)) return null;
    const at = purchasedAt + 3 * DAY_MS + rng.exp(4 * DAY_MS);
    const score = drawNps(rng, traits);
    if (at >= endMs) return null;
    const quarter = cal.quarter(at);
    if (`nps-${quarter}` === lastSurveyId) return null;
    const event: SurveyEvent = {
      type: 'survey', eventId: `s-${pad(++surveySeq)}`, customerId, surveyId: `nps-${quarter}`,
      kind: 'NPS', score, occurredAt: cal.iso(at),
    };
    const text = comment(score, 6, 9);
    if (text !== undefined) event.comment = text;
    return event;
  };

  for (let i = 0; i < n; i++) {
    const customerId = customerIdOf(i);
    const acquiredAt = acq[i]!;

    // Referral that brought this customer in: invite, click, then sign-up at acquisition.
    let firstPurchase: number | null = acquiredAt + rng.next() * Math.min(1_800_000, endMs - 1 - acquiredAt);
    let referred = false;
    if (i >= warmup && rng.next() * (n - i) < signups - chosen) {
      chosen++;
      referred = true;
      // Capped so that the whole funnel stays well inside the 90-day attribution window.
      const signLag = 300_000 + Math.min(rng.exp(2 * DAY_MS), 20 * DAY_MS);
      const clickLag = 300_000 + Math.min(rng.exp(1.5 * DAY_MS), 20 * DAY_MS);
      let clickedAt = acquiredAt - signLag;
      let invitedAt = clickedAt - clickLag;
      if (invitedAt <= acq[0]!) {
        invitedAt = acq[0]! + (acquiredAt - acq[0]!) / 3;
        clickedAt = acq[0]! + (2 * (acquiredAt - acq[0]!)) / 3;
      }
      yield* referral(pickReferrer(invitedAt), invitedAt, clickedAt, acquiredAt, customerId);
      firstPurchase = referredFirstPurchase(rng, invitedAt, acquiredAt);
    }

    const country = rng.chance(NO_COUNTRY_SHARE) ? undefined : COUNTRIES.draw(rng);
    const eur = country !== undefined && EURO_COUNTRIES.has(country) && rng.chance(EUR_SHARE_IN_EUROZONE);
    const channel = referred ? 'referral' : ORGANIC_CHANNELS.draw(rng);
    const segment = SEGMENTS.draw(rng);
    const profile: CustomerEvent = {
      type: 'customer', eventId: `cp-${pad(++profileSeq)}`, customerId, occurredAt: cal.iso(acquiredAt),
    };
    if (country !== undefined) profile.country = country;
    profile.channel = channel;
    profile.segment = segment;
    yield profile;

    const traits = drawTraits(rng, referred, segment, eur);
    repeatBuyer[i] = traits.oneTime ? 0 : 1;
    if (firstPurchase !== null && firstPurchase < endMs) {
      const stopAt = traits.oneTime ? firstPurchase : Math.min(endMs, firstPurchase + traits.lifetimeMs);
      const currency = eur ? 'EUR' : 'USD';
      let lastNpsSurveyId = '';
      const refunds: Array<RefundDraw & { orderId: string }> = [];
      const bought: Array<{ at: number; cents: number }> = [];
      let t = firstPurchase;
      for (;;) {
        const seq = ++purchaseSeq;
        const cents = drawCents(rng, traits);
        const orderId = `o-${pad(seq)}`;
        yield {
          type: 'purchase', eventId: `p-${pad(seq)}`, customerId, occurredAt: cal.iso(t),
          amount: formatCents(cents), currency, orderId, channel: ORDER_CHANNELS.draw(rng),
        };
        bought.push({ at: t, cents });
        for (const r of drawRefunds(refundRng, t, cents, endMs)) refunds.push({ ...r, orderId });
        const csat = csatAfter(customerId, traits, t);
        if (csat !== null) yield csat;
        const nps = npsAfter(customerId, traits, t, lastNpsSurveyId);
        if (nps !== null) {
          lastNpsSurveyId = nps.surveyId;
          yield nps;
        }
        if (traits.oneTime) break;
        t += (rng.exp(meanGapMs) * traits.gapFactor) / season[cal.day(t)]!;
        if (!(t < stopAt)) break;
      }
      refunds.sort((a, b) => a.at - b.at);
      for (const r of refunds) {
        yield {
          type: 'refund', eventId: `rf-${pad(++refundSeq)}`, customerId, orderId: r.orderId,
          occurredAt: cal.iso(r.at), amount: formatCents(r.cents), currency,
        };
      }
      for (const l of drawLoyalty(programRng, bought, endMs)) {
        const event: LoyaltyEvent = { type: 'loyalty', eventId: `l-${pad(++loyaltySeq)}`, customerId, occurredAt: cal.iso(l.at), action: l.action };
        if (l.tier !== undefined) event.tier = l.tier;
        if (l.points !== undefined) event.points = l.points;
        yield event;
      }
      const followUp = drawFollowUp(programRng, bought[bought.length - 1]!.at, endMs);
      if (followUp !== null) {
        for (const x of followUp.touches) {
          yield { type: 'touch', eventId: `t-${pad(++touchSeq)}`, customerId, occurredAt: cal.iso(x.at), campaign: x.campaign, stage: x.stage, channel: x.channel };
        }
        if (followUp.conversionAt !== null) {
          const seq = ++conversionSeq;
          yield {
            type: 'purchase', eventId: `p-fu-${pad(seq)}`, customerId, occurredAt: cal.iso(followUp.conversionAt),
            amount: formatCents(drawCents(programRng, traits)), currency, orderId: `o-fu-${pad(seq)}`, channel: 'web',
          };
        }
      }
    }

    // A later profile version with a changed segment (the customer grew or shrank).
    if (rng.chance(SECOND_PROFILE_SHARE) && endMs - acquiredAt > 14 * DAY_MS) {
      const at = acquiredAt + 7 * DAY_MS + rng.next() * (endMs - acquiredAt - 7 * DAY_MS);
      const options = NEXT_SEGMENT[segment];
      const update: CustomerEvent = {
        type: 'customer', eventId: `cp-${pad(++profileSeq)}`, customerId, occurredAt: cal.iso(at),
      };
      if (country !== undefined) update.country = country;
      update.channel = channel;
      update.segment = options[rng.int(options.length)]!;
      yield update;
    }

    // Referrals that did not bring a customer: spread over acquisition order, so they follow
    // the same seasonality. Emitted after customer i, who may be their referrer.
    const due = Math.floor(((i + 1) * others) / n) - Math.floor((i * others) / n);
    for (let k = 0; k < due; k++) {
      const invitedAt = Math.min(endMs - 2, acquiredAt + 1 + rng.next() * DAY_MS);
      const clicked = rng.chance(clickOthers);
      const clickedAt = clicked ? Math.min(endMs - 1, invitedAt + 60_000 + rng.exp(1.5 * DAY_MS)) : null;
      yield* referral(pickReferrer(invitedAt), invitedAt, clickedAt, null, null);
    }
  }
}

/** Index of the first element >= value in a sorted array. */
function lowerBound(sorted: Float64Array, value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

