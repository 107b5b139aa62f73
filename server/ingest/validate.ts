// Event validation (spec section 1): a parsed JSON object -> a row for its ClickHouse
// table (JSONEachRow column names), or every error of the event.
//
// Decisions where the spec leaves room:
// - Ids and attributes (eventId, customerId, referralId, referrerId, referredCustomerId,
//   surveyId, orderId, campaign, channel, segment) are strings of 1..128 code points. They may
//   not contain control characters (C0, DEL, C1; tab and newline included: they break
//   exports and dashboard labels) nor unpaired surrogates. An empty string is an error,
//   not "absent"; null is absent for an optional field and missing for a required one.
// - comment: 0..5000 code points, reason (refunds): 0..500; tab, LF and CR allowed, other
//   control characters not.
// - A refund's amount must be > 0 (spec section 12); -0 is refused there like any zero.
// - Numbers are not accepted where a string is expected (customerId 42 is rejected).
// - Timestamps: YYYY-MM-DDTHH:MM:SS[.fraction](Z|±hh:mm), upper-case T and Z; seconds
//   required; no leap second (:60) nor 24:00; offsets up to ±23:59. `±hhmm` and `±hh`
//   are rejected with their own message (the contract names ±hh:mm). Any number of
//   fraction digits; digits after the milliseconds are truncated (offsets are whole
//   minutes, so truncating the written fraction truncates the instant).
// - amount: a JSON number, or a string `-?digits[.digits]` (no exponent, no '+', no
//   spaces). Decimals are counted on the literal as written, trailing zeros included
//   (`1.50000` has 5). With an exponent, the decimals of the written value are
//   fraction digits minus exponent, exactly: `1e2` has 0, `1.5e-3` has 4 (0.0015),
//   `1.50000e1` has 4, `1e-5` has 5. Negative zero (`-0`, "-0.00") is accepted as 0: it is
//   a serializer artifact, not a refund. The row's amount is the exact value as a
//   plain decimal string without trailing fraction zeros ("12.34", "100", "0.0015").
//   A JS number without its literal (GraphQL variables) is counted on its shortest
//   round-trip form (String(n)).
// - score: a JSON number with an integer value (9.0 parses to 9 and passes); strings
//   are rejected.
// - currency: the current ISO 4217 list (funds, metals and X-codes included; ANG and
//   XCG both, the guilder is in transition; withdrawn codes such as HRK are rejected).
//   country: the 249 officially assigned ISO 3166-1 alpha-2 codes (no XK, no UK). Both lists
//   live in loaders/event-codes.ts: filter and currency arguments are checked against them too.
// - loyalty (spec section 14): tier is 1..64 code points with the ids' rules (no control
//   characters), required for TIER_CHANGED and kept when another action carries it (a JOINED
//   with a tier sets it); points is an integer JSON number 1..1e9 like score, required for
//   POINTS_EARNED and POINTS_REDEEMED and validated wherever it is given.
// - With expectedType (GraphQL mutations) a `type` field, if any, is ignored.

import { CALENDAR_END, CALENDAR_START } from '../../loaders/grain.js';
import { ISO_3166_ALPHA2, ISO_4217, MAX_ID_LENGTH, MAX_TIER_LENGTH } from '../../loaders/event-codes.js';
import { NOT_AN_OBJECT, parseJsonLine } from './json-line.js';

export type EventType = 'purchase' | 'refund' | 'referral' | 'survey' | 'customer' | 'loyalty' | 'touch';
export type TableName = 'purchases' | 'refunds' | 'referrals' | 'survey_responses' | 'customers' | 'loyalty_events' | 'touches';
export type ReferralStage = 'INVITED' | 'CLICKED' | 'SIGNED_UP';
export type SurveyKind = 'NPS' | 'CSAT';
export type LoyaltyAction = 'JOINED' | 'TIER_CHANGED' | 'POINTS_EARNED' | 'POINTS_REDEEMED' | 'LEFT';
export type TouchStage = 'SENT' | 'OPENED' | 'CLICKED' | 'HELD_OUT';

export const EVENT_TYPES: readonly EventType[] = ['purchase', 'refund', 'referral', 'survey', 'customer', 'loyalty', 'touch'];
export const TABLE_OF: Record<EventType, TableName> = {
  purchase: 'purchases',
  refund: 'refunds',
  referral: 'referrals',
  survey: 'survey_responses',
  customer: 'customers',
  loyalty: 'loyalty_events',
  touch: 'touches',
};

export interface PurchaseRow {
  event_id: string;
  customer_id: string;
  occurred_at: string;
  amount: string;
  currency: string;
  order_id: string | null;
  channel: string | null;
}
/** Spec section 12: belongs to the purchase of the same customer and currency whose order key is order_id. */
export interface RefundRow {
  event_id: string;
  customer_id: string;
  order_id: string;
  occurred_at: string;
  amount: string;
  currency: string;
  reason: string | null;
}
export interface ReferralRow {
  event_id: string;
  referral_id: string;
  stage: ReferralStage;
  referrer_id: string;
  referred_customer_id: string | null;
  occurred_at: string;
  channel: string | null;
}
export interface SurveyResponseRow {
  event_id: string;
  customer_id: string;
  survey_id: string;
  kind: SurveyKind;
  score: number;
  occurred_at: string;
  comment: string | null;
}
/** The writer adds received_seq. */
export interface CustomerRow {
  event_id: string;
  customer_id: string;
  occurred_at: string;
  country: string | null;
  channel: string | null;
  segment: string | null;
}

/** Spec section 14. */
export interface LoyaltyRow {
  event_id: string;
  customer_id: string;
  occurred_at: string;
  action: LoyaltyAction;
  tier: string | null;
  points: number | null;
}

/** Spec section 15: a follow-up campaign's touch of a customer, or their holding out of it (HELD_OUT). */
export interface TouchRow {
  event_id: string;
  customer_id: string;
  occurred_at: string;
  campaign: string;
  stage: TouchStage;
  channel: string | null;
}

export type StoredEvent =
  | { type: 'purchase'; row: PurchaseRow }
  | { type: 'refund'; row: RefundRow }
  | { type: 'referral'; row: ReferralRow }
  | { type: 'survey'; row: SurveyResponseRow }
  | { type: 'customer'; row: CustomerRow }
  | { type: 'loyalty'; row: LoyaltyRow }
  | { type: 'touch'; row: TouchRow };

export type ValidationResult = { ok: true; event: StoredEvent } | { ok: false; eventId: string | null; errors: string[] };

export const MAX_COMMENT_LENGTH = 5000;
export const MAX_REASON_LENGTH = 500;
export const MAX_AMOUNT = '1000000000000';
export const MAX_AMOUNT_DECIMALS = 4;
export const MAX_POINTS = 1_000_000_000;
const END_MS = Date.parse(CALENDAR_END);

const STAGES: readonly ReferralStage[] = ['INVITED', 'CLICKED', 'SIGNED_UP'];
const KINDS: readonly SurveyKind[] = ['NPS', 'CSAT'];
export const TOUCH_STAGES: readonly TouchStage[] = ['SENT', 'OPENED', 'CLICKED', 'HELD_OUT'];
const SCORE_RANGE: Record<SurveyKind, readonly [number, number]> = { NPS: [0, 10], CSAT: [1, 5] };
export const LOYALTY_ACTIONS: readonly LoyaltyAction[] = ['JOINED', 'TIER_CHANGED', 'POINTS_EARNED', 'POINTS_REDEEMED', 'LEFT'];
/** The actions that need a field (spec section 14). */
const NEEDS_TIER: readonly LoyaltyAction[] = ['TIER_CHANGED'];
const NEEDS_POINTS: readonly LoyaltyAction[] = ['POINTS_EARNED', 'POINTS_REDEEMED'];

/** Shows a rejected value in a message: JSON text, cut at 64 characters. */
export function show(v: unknown): string {
  // A long string is cut before quoting: a 1 MB value is never copied whole into a message.
  if (typeof v === 'string' && v.length > 64) return cut(JSON.stringify(v.slice(0, 64)));
  return cut(JSON.stringify(v) ?? String(v));
}

function cut(s: string): string {
  return s.length > 64 ? `${s.slice(0, 64)}…` : s;
}

function kindOf(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
}

/** Every error text the validator produces; tests assert these exact strings. */
export const messages = {
  notObject: NOT_AN_OBJECT,
  required: (f: string) => `${f}: is required`,
  notString: (f: string, v: unknown) => `${f}: must be a string (got ${kindOf(v)})`,
  length: (f: string, min: number, max: number, got: number) => `${f}: must be ${min} to ${max} characters long (got ${got})`,
  controlChars: (f: string) => `${f}: must not contain control characters`,
  unpairedSurrogate: (f: string) => `${f}: must be valid Unicode (unpaired surrogate)`,
  oneOf: (f: string, allowed: readonly string[], v: unknown) => `${f}: must be one of ${allowed.join(', ')} (got ${show(v)})`,
  timestampFormat: (f: string, v: string) => `${f}: must be an ISO-8601 timestamp like 2024-03-01T09:30:00Z (got ${show(v)})`,
  timestampZone: (f: string) => `${f}: timestamp must include a zone (Z or ±hh:mm)`,
  timestampOffset: (f: string, v: string) => `${f}: zone offset must be written ±hh:mm (got ${show(v)})`,
  timestampInvalid: (f: string, v: string) => `${f}: not a valid calendar date and time (got ${show(v)})`,
  timestampRange: (f: string, v: string) =>
    `${f}: must be in [${CALENDAR_START}, ${CALENDAR_END}) (got ${show(v)})`,
  amountType: (v: unknown) => `amount: must be a decimal string or a number (got ${kindOf(v)})`,
  // `got` is the JSON text as written: "12.5" for a string, 12.50 for a number
  amountFormat: (got: string) => `amount: must be a decimal number like "12.34" (got ${cut(got)})`,
  amountNegative: (got: string) => `amount: must be >= 0 (got ${cut(got)})`,
  refundAmount: (got: string) => `amount: a refund must be > 0 (got ${cut(got)})`,
  amountTooLarge: (got: string) => `amount: must be <= ${MAX_AMOUNT} (got ${cut(got)})`,
  amountDecimals: (got: number) => `amount: must have at most ${MAX_AMOUNT_DECIMALS} decimal places (got ${got})`,
  currencyFormat: (v: unknown) => `currency: must be 3 upper-case letters (got ${show(v)})`,
  currencyUnknown: (v: string) => `currency: not an ISO 4217 currency code (got ${show(v)})`,
  country: (v: unknown) => `country: must be an ISO 3166-1 alpha-2 code (got ${show(v)})`,
  referredRequired: 'referredCustomerId: required when stage is SIGNED_UP',
  scoreInteger: (v: unknown) => `score: must be an integer (got ${show(v)})`,
  scoreRange: (kind: SurveyKind, v: number) =>
    `score: must be between ${SCORE_RANGE[kind][0]} and ${SCORE_RANGE[kind][1]} for ${kind} (got ${v})`,
  requiredFor: (f: string, action: LoyaltyAction) => `${f}: required when action is ${action}`,
  pointsInteger: (v: unknown) => `points: must be an integer (got ${show(v)})`,
  pointsRange: (v: number) => `points: must be between 1 and ${MAX_POINTS} (got ${v})`,
} as const;

type Obj = Record<string, unknown>;

/**
 * Validates one event. `amountLiteral` is the JSON source text of a numeric `amount`
 * (see parseJsonLine); without it a numeric amount is counted on String(amount).
 */
export function validateEvent(value: unknown, expectedType?: EventType, amountLiteral?: string): ValidationResult {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { ok: false, eventId: null, errors: [messages.notObject] };
  }
  const o = value as Obj;
  const errors: string[] = [];
  let type = expectedType;
  if (type === undefined) {
    const t = o.type;
    if (t == null) errors.push(messages.required('type'));
    else if (typeof t === 'string' && (EVENT_TYPES as readonly string[]).includes(t)) type = t as EventType;
    else errors.push(messages.oneOf('type', EVENT_TYPES, t));
  }
  const before = errors.length;
  const eventId = reqId(o, 'eventId', errors);
  const eventIdValid = errors.length === before;
  let event: StoredEvent | undefined;
  switch (type) {
    case 'purchase':
      event = {
        type,
        row: {
          event_id: eventId,
          customer_id: reqId(o, 'customerId', errors),
          occurred_at: timestamp(o, 'occurredAt', errors),
          amount: amount(o.amount, amountLiteral, errors),
          currency: currency(o.currency, errors),
          order_id: optId(o, 'orderId', errors),
          channel: optId(o, 'channel', errors),
        },
      };
      break;
    case 'refund': {
      const customerId = reqId(o, 'customerId', errors);
      const orderId = reqId(o, 'orderId', errors);
      const occurredAt = timestamp(o, 'occurredAt', errors);
      event = {
        type,
        row: {
          event_id: eventId,
          customer_id: customerId,
          order_id: orderId,
          occurred_at: occurredAt,
          // A zero refund would change nothing, yet read as the cancellation of a zero-amount order.
          amount: amount(o.amount, amountLiteral, errors, true),
          currency: currency(o.currency, errors),
          reason: optString(o, 'reason', 0, MAX_REASON_LENGTH, COMMENT_BAD, errors),
        },
      };
      break;
    }
    case 'referral': {
      const referralId = reqId(o, 'referralId', errors);
      const stage = oneOf(o, 'stage', STAGES, errors);
      const referrerId = reqId(o, 'referrerId', errors);
      const referred = optId(o, 'referredCustomerId', errors);
      if (stage === 'SIGNED_UP' && o.referredCustomerId == null) errors.push(messages.referredRequired);
      event = {
        type,
        row: {
          event_id: eventId,
          referral_id: referralId,
          stage: stage as ReferralStage,
          referrer_id: referrerId,
          referred_customer_id: referred,
          occurred_at: timestamp(o, 'occurredAt', errors),
          channel: optId(o, 'channel', errors),
        },
      };
      break;
    }
    case 'survey': {
      const customerId = reqId(o, 'customerId', errors);
      const surveyId = reqId(o, 'surveyId', errors);
      const kind = oneOf(o, 'kind', KINDS, errors);
      event = {
        type,
        row: {
          event_id: eventId,
          customer_id: customerId,
          survey_id: surveyId,
          kind: kind as SurveyKind,
          score: score(o.score, kind, errors),
          occurred_at: timestamp(o, 'occurredAt', errors),
          comment: optString(o, 'comment', 0, MAX_COMMENT_LENGTH, COMMENT_BAD, errors),
        },
      };
      break;
    }
    case 'customer':
      event = {
        type,
        row: {
          event_id: eventId,
          customer_id: reqId(o, 'customerId', errors),
          occurred_at: timestamp(o, 'occurredAt', errors),
          country: country(o.country, errors),
          channel: optId(o, 'channel', errors),
          segment: optId(o, 'segment', errors),
        },
      };
      break;
    case 'loyalty': {
      const customerId = reqId(o, 'customerId', errors);
      const occurredAt = timestamp(o, 'occurredAt', errors);
      const action = oneOf(o, 'action', LOYALTY_ACTIONS, errors);
      const tier = optString(o, 'tier', 1, MAX_TIER_LENGTH, ID_SUSPECT, errors);
      if (action !== undefined && NEEDS_TIER.includes(action) && o.tier == null) errors.push(messages.requiredFor('tier', action));
      if (action !== undefined && NEEDS_POINTS.includes(action) && o.points == null) errors.push(messages.requiredFor('points', action));
      event = {
        type,
        row: { event_id: eventId, customer_id: customerId, occurred_at: occurredAt, action: action as LoyaltyAction, tier, points: points(o.points, errors) },
      };
      break;
    }
    case 'touch': {
      const customerId = reqId(o, 'customerId', errors);
      const occurredAt = timestamp(o, 'occurredAt', errors);
      event = {
        type,
        row: {
          event_id: eventId,
          customer_id: customerId,
          occurred_at: occurredAt,
          campaign: reqId(o, 'campaign', errors),
          stage: oneOf(o, 'stage', TOUCH_STAGES, errors) as TouchStage,
          channel: optId(o, 'channel', errors),
        },
      };
      break;
    }
    case undefined:
      break;
  }
  if (errors.length === 0 && event !== undefined) return { ok: true, event };
  return { ok: false, eventId: eventIdValid ? eventId : null, errors };
}

/** The NDJSON hot path: one line's text -> its validation result. */
export function validateLine(text: string): ValidationResult {
  const parsed = parseJsonLine(text);
  if (!parsed.ok) return { ok: false, eventId: null, errors: [parsed.error] };
  return validateEvent(parsed.value, undefined, parsed.amountLiteral);
}

// --- strings ---------------------------------------------------------------------

// Fast pre-check: a match means a control character or a surrogate (paired or not).
const ID_SUSPECT = /[\u0000-\u001f\u007f-\u009f\ud800-\udfff]/;
const ID_CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const COMMENT_BAD = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\ud800-\udfff]/;
const COMMENT_CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/;
const UNPAIRED = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function codePoints(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length - 1; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return n;
}

/** Returns the string, null when absent, or null after pushing an error. */
function optString(o: Obj, f: string, min: number, max: number, suspect: RegExp, errors: string[]): string | null {
  const v = o[f];
  if (v == null) return null;
  if (typeof v !== 'string') {
    errors.push(messages.notString(f, v));
    return null;
  }
  const before = errors.length;
  // code points <= UTF-16 units, so only long strings need counting
  if (v.length < min || v.length > max) {
    const n = v.length > max ? codePoints(v) : v.length;
    if (n < min || n > max) errors.push(messages.length(f, min, max, n));
  }
  if (suspect.test(v)) {
    if ((suspect === COMMENT_BAD ? COMMENT_CONTROL : ID_CONTROL).test(v)) errors.push(messages.controlChars(f));
    if (UNPAIRED.test(v)) errors.push(messages.unpairedSurrogate(f));
  }
  return errors.length === before ? v : null;
}

function optId(o: Obj, f: string, errors: string[]): string | null {
  return optString(o, f, 1, MAX_ID_LENGTH, ID_SUSPECT, errors);
}

/** Returns the id, or '' when missing or invalid (with its error pushed). */
function reqId(o: Obj, f: string, errors: string[]): string {
  if (o[f] == null) {
    errors.push(messages.required(f));
    return '';
  }
  return optId(o, f, errors) ?? '';
}

/** Returns the value, or undefined after pushing an error. */
function oneOf<T extends string>(o: Obj, f: string, allowed: readonly T[], errors: string[]): T | undefined {
  const v = o[f];
  if (v == null) errors.push(messages.required(f));
  else if (typeof v === 'string' && (allowed as readonly string[]).includes(v)) return v as T;
  else errors.push(messages.oneOf(f, allowed, v));
  return undefined;
}

// --- timestamps ------------------------------------------------------------------
// Hand-parsed: this runs once per event and a regex with 8 groups plus Date formatting
// cost several times more.

const DAYS_IN_MONTH = [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** Two decimal digits at s[i], or -1. */
function two(s: string, i: number): number {
  const a = s.charCodeAt(i) - 48;
  const b = s.charCodeAt(i + 1) - 48;
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : -1;
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : `${n}`;
}

/** Epoch milliseconds -> `YYYY-MM-DD HH:MM:SS.mmm` (years 1970..2099). */
function formatUtc(t: number): string {
  const days = Math.floor(t / 86_400_000);
  let r = t - days * 86_400_000;
  // civil_from_days (H. Hinnant), valid for the whole accepted range
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  const y = yoe + era * 400 + (m <= 2 ? 1 : 0);
  const h = Math.floor(r / 3_600_000);
  r -= h * 3_600_000;
  const mi = Math.floor(r / 60_000);
  r -= mi * 60_000;
  const s = Math.floor(r / 1000);
  const ms = r - s * 1000;
  return `${y}-${pad2(m)}-${pad2(d)} ${pad2(h)}:${pad2(mi)}:${pad2(s)}.${ms < 10 ? '00' : ms < 100 ? '0' : ''}${ms}`;
}

/** Returns `YYYY-MM-DD HH:MM:SS.mmm` (UTC), or '' after pushing an error. */
function timestamp(o: Obj, f: string, errors: string[]): string {
  const v = o[f];
  if (v == null) {
    errors.push(messages.required(f));
    return '';
  }
  if (typeof v !== 'string') {
    errors.push(messages.notString(f, v));
    return '';
  }
  const n = v.length;
  const y = n >= 19 ? two(v, 0) * 100 + two(v, 2) : -1;
  const mo = two(v, 5);
  const d = two(v, 8);
  const h = two(v, 11);
  const mi = two(v, 14);
  const s = two(v, 17);
  if (
    y < 0 || mo < 0 || d < 0 || h < 0 || mi < 0 || s < 0 || two(v, 0) < 0 ||
    v.charCodeAt(4) !== 45 || v.charCodeAt(7) !== 45 || v.charCodeAt(10) !== 84 /* T */ ||
    v.charCodeAt(13) !== 58 || v.charCodeAt(16) !== 58
  ) {
    errors.push(messages.timestampFormat(f, v));
    return '';
  }
  let p = 19;
  let ms = 0;
  if (v.charCodeAt(p) === 46 /* . */) {
    const start = ++p;
    while (p < n && isDigit(v.charCodeAt(p))) {
      // digits after the third are truncated
      if (p - start < 3) ms = ms * 10 + v.charCodeAt(p) - 48;
      p++;
    }
    if (p === start) {
      errors.push(messages.timestampFormat(f, v));
      return '';
    }
    for (let k = p - start; k < 3; k++) ms *= 10;
  }
  let offset = 0; // minutes east of UTC
  const zone = v.charCodeAt(p);
  if (p === n) {
    errors.push(messages.timestampZone(f));
    return '';
  }
  if (zone === 90 /* Z */ && p + 1 === n) {
    // UTC
  } else if (zone === 43 /* + */ || zone === 45 /* - */) {
    const oh = two(v, p + 1);
    const om = two(v, p + 4);
    if (n - p === 6 && oh >= 0 && om >= 0 && v.charCodeAt(p + 3) === 58) {
      if (oh > 23 || om > 59) {
        errors.push(messages.timestampInvalid(f, v));
        return '';
      }
      offset = (zone === 45 ? -1 : 1) * (oh * 60 + om);
    } else {
      const other = (n - p === 3 || n - p === 5) && oh >= 0 && (n - p === 3 || two(v, p + 3) >= 0);
      errors.push(other ? messages.timestampOffset(f, v) : messages.timestampFormat(f, v));
      return '';
    }
  } else {
    errors.push(messages.timestampFormat(f, v));
    return '';
  }
  const dim = mo === 2 && y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 29 : DAYS_IN_MONTH[mo]!;
  if (mo < 1 || mo > 12 || d < 1 || d > dim || h > 23 || mi > 59 || s > 59) {
    errors.push(messages.timestampInvalid(f, v));
    return '';
  }
  if (offset === 0) {
    if (y < 1970 || y > 2099) {
      errors.push(messages.timestampRange(f, v));
      return '';
    }
    return `${v.slice(0, 10)} ${v.slice(11, 19)}.${ms < 10 ? '00' : ms < 100 ? '0' : ''}${ms}`;
  }
  // an offset moves the instant by less than a day; Date.UTC misreads years < 100
  if (y < 1969 || y > 2100) {
    errors.push(messages.timestampRange(f, v));
    return '';
  }
  const t = Date.UTC(y, mo - 1, d, h, mi, s, ms) - offset * 60_000;
  if (t < 0 || t >= END_MS) {
    errors.push(messages.timestampRange(f, v));
    return '';
  }
  return formatUtc(t);
}

// --- amount ----------------------------------------------------------------------

/** Returns the normalized decimal text, or '' after pushing the errors. `positive`: zero is refused too. */
function amount(v: unknown, literal: string | undefined, errors: string[], positive = false): string {
  let s: string;
  if (typeof v === 'string') s = v;
  else if (typeof v === 'number') s = literal ?? String(v);
  else {
    errors.push(v == null ? messages.required('amount') : messages.amountType(v));
    return '';
  }
  const got = typeof v === 'string' ? JSON.stringify(v) : s;
  // -?digits[.digits] and, for JSON numbers only, [eE][+-]digits
  const n = s.length;
  const neg = s.charCodeAt(0) === 45;
  let i = neg ? 1 : 0;
  const intStart = i;
  while (i < n && isDigit(s.charCodeAt(i))) i++;
  const intEnd = i;
  let fracStart = i;
  let fracEnd = i;
  let bad = intEnd === intStart;
  if (!bad && s.charCodeAt(i) === 46 /* . */) {
    fracStart = ++i;
    while (i < n && isDigit(s.charCodeAt(i))) i++;
    fracEnd = i;
    bad = fracEnd === fracStart;
  }
  let exp = 0;
  if (!bad && typeof v === 'number' && (s.charCodeAt(i) | 32) === 101 /* e */) {
    const c = s.charCodeAt(++i);
    const expNeg = c === 45;
    if (c === 43 || c === 45) i++;
    const start = i;
    // |exponent| is clamped: beyond 1e9 the value is out of range either way
    for (; i < n && isDigit(s.charCodeAt(i)); i++) exp = Math.min(exp * 10 + s.charCodeAt(i) - 48, 1e9);
    bad = i === start;
    if (expNeg) exp = -exp;
  }
  if (bad || i !== n) {
    errors.push(messages.amountFormat(got));
    return '';
  }
  const scale = fracEnd - fracStart - exp; // decimals of the value as written
  // significant digits: int and fraction digits without leading zeros
  let digits = exp === 0 ? '' : s.slice(intStart, intEnd) + s.slice(fracStart, fracEnd);
  let lead = intStart;
  while (lead < intEnd && s.charCodeAt(lead) === 48) lead++;
  let sig = intEnd - lead + (fracEnd - fracStart); // count of digits from the first nonzero one
  if (lead === intEnd) {
    let k = fracStart;
    while (k < fracEnd && s.charCodeAt(k) === 48) k++;
    sig = fracEnd - k;
  }
  const before = errors.length;
  if (sig === 0 && positive) errors.push(messages.refundAmount(got));
  if (sig > 0) {
    if (neg) errors.push(positive ? messages.refundAmount(got) : messages.amountNegative(got));
    const intDigits = sig - scale;
    if (intDigits > MAX_AMOUNT.length) errors.push(messages.amountTooLarge(got));
    else if (intDigits === MAX_AMOUNT.length) {
      if (digits === '') digits = s.slice(intStart, intEnd) + s.slice(fracStart, fracEnd);
      digits = digits.slice(digits.length - sig);
      const intPart = scale >= 0 ? digits.slice(0, intDigits) : digits + '0'.repeat(-scale);
      if (intPart > MAX_AMOUNT || (scale > 0 && /[1-9]/.test(digits.slice(intDigits)))) errors.push(messages.amountTooLarge(got));
    }
  }
  if (scale > MAX_AMOUNT_DECIMALS) errors.push(messages.amountDecimals(scale));
  if (errors.length !== before) return '';
  if (sig === 0) return '0';
  let fe = fracEnd;
  while (fe > fracStart && s.charCodeAt(fe - 1) === 48) fe--;
  if (exp === 0) {
    // already canonical (the common case): no copy
    if (!neg && (lead === intStart || intEnd - intStart === 1) && fe === fracEnd && fracEnd !== fracStart) return s;
    if (!neg && (lead === intStart || intEnd - intStart === 1) && fracEnd === fracStart) return s;
    const intText = lead === intEnd ? '0' : s.slice(lead, intEnd);
    return fe === fracStart ? intText : `${intText}.${s.slice(fracStart, fe)}`;
  }
  // exponent notation: -4 <= ... and scale <= 4 here, so these strings stay short
  digits = (s.slice(intStart, intEnd) + s.slice(fracStart, fracEnd)).slice(-sig);
  if (scale <= 0) return digits + '0'.repeat(-scale);
  const intPart = digits.length > scale ? digits.slice(0, digits.length - scale) : '0';
  const fracPart = digits.length > scale ? digits.slice(digits.length - scale) : digits.padStart(scale, '0');
  const trimmed = fracPart.replace(/0+$/, '');
  return trimmed === '' ? intPart : `${intPart}.${trimmed}`;
}

// --- codes and scores ------------------------------------------------------------

function currency(v: unknown, errors: string[]): string {
  if (v == null) errors.push(messages.required('currency'));
  else if (typeof v !== 'string' || !/^[A-Z]{3}$/.test(v)) errors.push(messages.currencyFormat(v));
  else if (!ISO_4217.has(v)) errors.push(messages.currencyUnknown(v));
  else return v;
  return '';
}

function country(v: unknown, errors: string[]): string | null {
  if (v == null) return null;
  if (typeof v === 'string' && ISO_3166_ALPHA2.has(v)) return v;
  errors.push(messages.country(v));
  return null;
}

function score(v: unknown, kind: SurveyKind | undefined, errors: string[]): number {
  if (v == null) {
    errors.push(messages.required('score'));
    return 0;
  }
  if (typeof v !== 'number' || !Number.isInteger(v)) {
    errors.push(messages.scoreInteger(v));
    return 0;
  }
  // with an invalid kind, the kind error is enough
  if (kind !== undefined) {
    const [lo, hi] = SCORE_RANGE[kind];
    if (v < lo || v > hi) errors.push(messages.scoreRange(kind, v));
  }
  return v;
}

/** Returns the points, null when absent, or null after pushing an error. */
function points(v: unknown, errors: string[]): number | null {
  if (v == null) return null;
  if (typeof v !== 'number' || !Number.isInteger(v)) errors.push(messages.pointsInteger(v));
  else if (v < 1 || v > MAX_POINTS) errors.push(messages.pointsRange(v));
  else return v;
  return null;
}

/** The errors of an id given outside an event (an erasure's customerIds), by the events' own rules. */
export function idErrors(value: unknown, field: string): string[] {
  const errors: string[] = [];
  reqId({ [field]: value }, field, errors);
  return errors;
}
