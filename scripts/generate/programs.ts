/**
 * The store's retention programs (spec sections 14 and 15): a loyalty program with tiers and
 * points, and follow-up campaigns with a held-out control group. store.ts calls these once per
 * customer, after their purchases, with a random stream of their own so that the programs leave
 * every other event as it was.
 *
 * The follow-up campaigns have a known true effect, so the demo shows what followUpImpact is for
 * (and a test can check that its intervals cover the truth): they target lapsed customers, whose
 * own purchases are over, and a conversion is a purchase the campaign's draw adds; the control
 * group converts at `controlRate`, the treated group at `treatedRate`.
 */
import { DAY_MS } from './calendar.js';
import type { Rng } from './prng.js';

export interface Campaign {
  name: string;
  channel: string;
  /** Share of the lapsed customers assigned to this campaign. */
  share: number;
  /** Share of its assigned customers held out (sent nothing). */
  holdout: number;
  /** True probability of a purchase within WINDOW_DAYS after assignment, by group. */
  controlRate: number;
  treatedRate: number;
  openRate: number;
  clickRate: number;
}

/** One campaign raises 30-day conversion from 12% to 15%; the other changes nothing. */
export const CAMPAIGNS: readonly Campaign[] = [
  { name: 'winback-email', channel: 'EMAIL', share: 0.7, holdout: 0.5, controlRate: 0.12, treatedRate: 0.15, openRate: 0.45, clickRate: 0.12 },
  { name: 'winback-sms', channel: 'SMS', share: 0.3, holdout: 0.5, controlRate: 0.08, treatedRate: 0.08, openRate: 0, clickRate: 0.05 },
];
/** followUpImpact's default window, which the true rates above refer to. */
export const WINDOW_DAYS = 30;
/** A customer is lapsed, and assigned, this long after their last purchase. */
const LAPSE_DAYS = 45;

export type TouchStage = 'SENT' | 'OPENED' | 'CLICKED' | 'HELD_OUT';

export interface TouchDraw {
  at: number;
  campaign: string;
  channel: string;
  stage: TouchStage;
}

export interface FollowUpDraw {
  touches: TouchDraw[];
  /** The purchase the campaign's draw adds (a conversion), if any: within the window after assignment. */
  conversionAt: number | null;
}

/**
 * A campaign for a customer whose last purchase was at `lastPurchaseAt`, or null when they are
 * not lapsed long enough before `endMs` for their whole window to fit. Draws from `rng` a fixed
 * number of times whatever the outcome.
 */
export function drawFollowUp(rng: Rng, lastPurchaseAt: number, endMs: number): FollowUpDraw | null {
  const [pick, group, converts, when, opens, clicks, lag] = [rng.next(), rng.next(), rng.next(), rng.next(), rng.next(), rng.next(), rng.next()];
  const t0 = lastPurchaseAt + LAPSE_DAYS * DAY_MS;
  if (t0 + (WINDOW_DAYS + 1) * DAY_MS >= endMs) return null;
  let campaign = CAMPAIGNS[CAMPAIGNS.length - 1]!;
  for (let acc = 0, i = 0; i < CAMPAIGNS.length; i++) {
    acc += CAMPAIGNS[i]!.share;
    if (pick < acc) {
      campaign = CAMPAIGNS[i]!;
      break;
    }
  }
  const { name, channel } = campaign;
  const treated = group >= campaign.holdout;
  const touches: TouchDraw[] = [{ at: t0, campaign: name, channel, stage: treated ? 'SENT' : 'HELD_OUT' }];
  if (treated && opens < campaign.openRate) touches.push({ at: t0 + 600_000 + lag * DAY_MS, campaign: name, channel, stage: 'OPENED' });
  if (treated && clicks < campaign.clickRate) touches.push({ at: t0 + 1_200_000 + lag * DAY_MS, campaign: name, channel, stage: 'CLICKED' });
  // Strictly after t0 and well inside the window's closed end.
  const rate = treated ? campaign.treatedRate : campaign.controlRate;
  const conversionAt = converts < rate ? t0 + 3_600_000 + when * (WINDOW_DAYS * DAY_MS - 7_200_000) : null;
  return { touches, conversionAt };
}

export type LoyaltyAction = 'JOINED' | 'TIER_CHANGED' | 'POINTS_EARNED' | 'POINTS_REDEEMED' | 'LEFT';

export interface LoyaltyDraw {
  at: number;
  action: LoyaltyAction;
  tier?: string;
  points?: number;
}

/** Repeat buyers join at their second purchase this often. */
const JOIN_SHARE = 0.4;
/** Tiers by points earned since joining (the first is the tier a member joins with). */
const TIERS: ReadonlyArray<readonly [string, number]> = [['silver', 0], ['gold', 1_000], ['platinum', 5_000]];
const REDEEM_POINTS = 500;
const REDEEM_SHARE = 0.3;
const LEAVE_SHARE = 0.1;

/**
 * A customer's loyalty events for their purchases (`at`, `cents`, in time order): members join
 * at their second purchase, earn a point per currency unit of each later purchase, move up a
 * tier at the thresholds, sometimes redeem 500 points at a purchase, and some leave between two
 * purchases. Nothing at or after `endMs`.
 */
export function drawLoyalty(rng: Rng, purchases: ReadonlyArray<{ at: number; cents: number }>, endMs: number): LoyaltyDraw[] {
  const joins = rng.next() < JOIN_SHARE;
  const leaveAfter = rng.next() < LEAVE_SHARE ? 2 + rng.int(Math.max(1, purchases.length)) : Infinity;
  const out: LoyaltyDraw[] = [];
  if (!joins || purchases.length < 2) return out;
  let tier = 0;
  let earned = 0;
  let balance = 0;
  for (let k = 1; k < purchases.length; k++) {
    const redeem = rng.next();
    const { at, cents } = purchases[k]!;
    if (k === 1) out.push({ at: at - 60_000, action: 'JOINED', tier: TIERS[0]![0] });
    if (k === leaveAfter) {
      const leftAt = at - 3_600_000;
      if (leftAt < endMs) out.push({ at: leftAt, action: 'LEFT' });
      break;
    }
    const points = Math.max(1, Math.floor(cents / 100));
    out.push({ at: at + 1_000, action: 'POINTS_EARNED', points });
    earned += points;
    balance += points;
    while (tier + 1 < TIERS.length && earned >= TIERS[tier + 1]![1]) {
      tier++;
      out.push({ at: at + 2_000, action: 'TIER_CHANGED', tier: TIERS[tier]![0] });
    }
    if (balance >= REDEEM_POINTS && redeem < REDEEM_SHARE) {
      out.push({ at: at + 3_000, action: 'POINTS_REDEEMED', points: REDEEM_POINTS });
      balance -= REDEEM_POINTS;
    }
  }
  return out.filter((e) => e.at < endMs);
}
