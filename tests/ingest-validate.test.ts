import { describe, expect, it } from 'vitest';
import { parseJsonLine, topLevelLiteral } from '../server/ingest/json-line.js';
import { Rejections } from '../server/ingest/rejections.js';
import { ISO_3166_ALPHA2, ISO_4217 } from '../loaders/event-codes.js';
import {
  TABLE_OF,
  messages,
  validateEvent,
  validateLine,
  type EventType,
  type ValidationResult,
} from '../server/ingest/validate.js';

const purchase = { type: 'purchase', eventId: 'p1', customerId: 'c1', occurredAt: '2024-03-01T10:00:00Z', amount: '12.34', currency: 'USD' };
const referral = { type: 'referral', eventId: 'r1', referralId: 'ref1', stage: 'INVITED', referrerId: 'c1', occurredAt: '2024-03-01T10:00:00Z' };
const survey = { type: 'survey', eventId: 's1', customerId: 'c1', surveyId: 'q1', kind: 'NPS', score: 9, occurredAt: '2024-03-01T10:00:00Z' };
const refund = { type: 'refund', eventId: 'f1', customerId: 'c1', orderId: 'o1', occurredAt: '2024-03-05T10:00:00Z', amount: '5', currency: 'USD' };
const customer = { type: 'customer', eventId: 'u1', customerId: 'c1', occurredAt: '2024-03-01T10:00:00Z' };

/** Validates a JSON line built from `base` with `patch` applied (undefined deletes). */
function line(base: object, patch: Record<string, unknown> = {}): ValidationResult {
  const o: Record<string, unknown> = { ...base, ...patch };
  for (const k of Object.keys(patch)) if (patch[k] === undefined) delete o[k];
  return validateLine(JSON.stringify(o));
}
function errorsOf(r: ValidationResult): string[] {
  return r.ok ? [] : r.errors;
}
function rowOf(r: ValidationResult): Record<string, unknown> {
  if (!r.ok) throw new Error(`expected ok, got ${JSON.stringify(r.errors)}`);
  return r.event.row as unknown as Record<string, unknown>;
}
const at = (occurredAt: string) => line(purchase, { occurredAt });
const amountRaw = (literal: string) =>
  validateLine(`{"type":"purchase","eventId":"p1","customerId":"c1","occurredAt":"2024-03-01T10:00:00Z","currency":"USD","amount":${literal}}`);

describe('valid events become rows with the ClickHouse column names', () => {
  it('maps a purchase', () => {
    const r = line(purchase, { orderId: 'o1', channel: 'web', extra: { nested: true } });
    expect(r).toEqual({
      ok: true,
      event: {
        type: 'purchase',
        row: { event_id: 'p1', customer_id: 'c1', occurred_at: '2024-03-01 10:00:00.000', amount: '12.34', currency: 'USD', order_id: 'o1', channel: 'web' },
      },
    });
  });

  it('maps a refund', () => {
    expect(line(refund, { reason: 'damaged' })).toEqual({
      ok: true,
      event: {
        type: 'refund',
        row: { event_id: 'f1', customer_id: 'c1', order_id: 'o1', occurred_at: '2024-03-05 10:00:00.000', amount: '5', currency: 'USD', reason: 'damaged' },
      },
    });
  });

  it('maps a referral', () => {
    expect(rowOf(line(referral, { stage: 'SIGNED_UP', referredCustomerId: 'c2', channel: 'mail' }))).toEqual({
      event_id: 'r1',
      referral_id: 'ref1',
      stage: 'SIGNED_UP',
      referrer_id: 'c1',
      referred_customer_id: 'c2',
      occurred_at: '2024-03-01 10:00:00.000',
      channel: 'mail',
    });
  });

  it('maps a survey response', () => {
    expect(rowOf(line(survey, { comment: 'great\tservice\r\nthanks' }))).toEqual({
      event_id: 's1',
      customer_id: 'c1',
      survey_id: 'q1',
      kind: 'NPS',
      score: 9,
      occurred_at: '2024-03-01 10:00:00.000',
      comment: 'great\tservice\r\nthanks',
    });
  });

  it('maps a customer profile and leaves absent attributes null', () => {
    expect(rowOf(line(customer, { country: 'DE', segment: 'smb' }))).toEqual({
      event_id: 'u1',
      customer_id: 'c1',
      occurred_at: '2024-03-01 10:00:00.000',
      country: 'DE',
      channel: null,
      segment: 'smb',
    });
  });

  it('maps a touch, its campaign checked like an id', () => {
    const touch = { type: 'touch', eventId: 't1', customerId: 'c1', occurredAt: '2024-03-01T12:00:00+02:00', campaign: 'spring', stage: 'HELD_OUT' };
    expect(rowOf(line(touch, { channel: 'SMS' }))).toEqual({
      event_id: 't1',
      customer_id: 'c1',
      occurred_at: '2024-03-01 10:00:00.000',
      campaign: 'spring',
      stage: 'HELD_OUT',
      channel: 'SMS',
    });
    expect(errorsOf(line(touch, { campaign: undefined, stage: 'sent' }))).toEqual(['campaign: is required', 'stage: must be one of SENT, OPENED, CLICKED, HELD_OUT (got "sent")']);
    expect(errorsOf(line(touch, { campaign: '🎁'.repeat(129) }))).toEqual(['campaign: must be 1 to 128 characters long (got 129)']);
    expect(rowOf(line(touch, { campaign: '🎁'.repeat(128) })).campaign).toBe('🎁'.repeat(128));
  });

  it('treats null optional fields as absent', () => {
    expect(rowOf(line(purchase, { orderId: null, channel: null }))).toMatchObject({ order_id: null, channel: null });
    expect(rowOf(line(survey, { comment: null })).comment).toBeNull();
  });

  it('names the table of every type', () => {
    expect(TABLE_OF).toEqual({ purchase: 'purchases', refund: 'refunds', referral: 'referrals', survey: 'survey_responses', customer: 'customers', loyalty: 'loyalty_events', touch: 'touches' });
  });
});

describe('type', () => {
  it('rejects an unknown type and lists the known ones', () => {
    expect(line(purchase, { type: 'return' })).toEqual({
      ok: false,
      eventId: 'p1',
      errors: ['type: must be one of purchase, refund, referral, survey, customer, loyalty, touch (got "return")'],
    });
  });
  it('rejects a missing or non-string type', () => {
    expect(errorsOf(line(purchase, { type: undefined }))).toEqual(['type: is required']);
    expect(errorsOf(line(purchase, { type: 3 }))).toEqual(['type: must be one of purchase, refund, referral, survey, customer, loyalty, touch (got 3)']);
  });
  it('does not need type when the caller knows it (GraphQL inputs)', () => {
    const { type: _t, ...input } = purchase;
    expect(validateEvent(input, 'purchase').ok).toBe(true);
    expect(validateEvent({ ...input, type: 'nonsense' }, 'purchase').ok).toBe(true);
    const { type: _s, ...surveyInput } = survey;
    const r = validateEvent(surveyInput, 'survey');
    expect(r.ok && r.event.type).toBe('survey');
  });
});

describe('missing fields are each reported', () => {
  const cases: [string, object, string[]][] = [
    ['purchase', { type: 'purchase' }, ['eventId', 'customerId', 'occurredAt', 'amount', 'currency']],
    ['refund', { type: 'refund' }, ['eventId', 'customerId', 'orderId', 'occurredAt', 'amount', 'currency']],
    ['referral', { type: 'referral' }, ['eventId', 'referralId', 'stage', 'referrerId', 'occurredAt']],
    ['survey', { type: 'survey' }, ['eventId', 'customerId', 'surveyId', 'kind', 'score', 'occurredAt']],
    ['customer', { type: 'customer' }, ['eventId', 'customerId', 'occurredAt']],
    ['loyalty', { type: 'loyalty' }, ['eventId', 'customerId', 'occurredAt', 'action']],
  ];
  for (const [name, value, fields] of cases) {
    it(`lists every missing field of a ${name}`, () => {
      expect(validateLine(JSON.stringify(value))).toEqual({ ok: false, eventId: null, errors: fields.map((f) => `${f}: is required`) });
    });
  }
  it('treats null like missing for required fields', () => {
    expect(errorsOf(line(purchase, { customerId: null }))).toEqual(['customerId: is required']);
  });
  it('reports all errors of a line, in field order', () => {
    expect(errorsOf(line(purchase, { eventId: '', customerId: 7, occurredAt: '2024-03-01', amount: '-1.123456', currency: 'usd', channel: '' }))).toEqual([
      'eventId: must be 1 to 128 characters long (got 0)',
      'customerId: must be a string (got number)',
      'occurredAt: must be an ISO-8601 timestamp like 2024-03-01T09:30:00Z (got "2024-03-01")',
      'amount: must be >= 0 (got "-1.123456")',
      'amount: must have at most 4 decimal places (got 6)',
      'currency: must be 3 upper-case letters (got "usd")',
      'channel: must be 1 to 128 characters long (got 0)',
    ]);
  });
});

describe('eventId in the rejection', () => {
  it('is echoed when valid', () => {
    expect(line(purchase, { amount: 'x' })).toMatchObject({ ok: false, eventId: 'p1' });
  });
  it('is null when missing, invalid or not a string', () => {
    expect(line(purchase, { eventId: undefined })).toMatchObject({ ok: false, eventId: null });
    expect(line(purchase, { eventId: 'x'.repeat(129) })).toMatchObject({ ok: false, eventId: null });
    expect(line(purchase, { eventId: 42 })).toMatchObject({ ok: false, eventId: null });
  });
});

describe('strings: ids and attributes', () => {
  it('counts code points: 128 emoji pass, 129 do not', () => {
    expect(rowOf(line(purchase, { eventId: '😀'.repeat(128) })).event_id).toBe('😀'.repeat(128));
    expect(errorsOf(line(purchase, { eventId: '😀'.repeat(129) }))).toEqual(['eventId: must be 1 to 128 characters long (got 129)']);
    expect(errorsOf(line(purchase, { customerId: 'a'.repeat(129) }))).toEqual(['customerId: must be 1 to 128 characters long (got 129)']);
    expect(line(purchase, { customerId: 'é'.repeat(128) }).ok).toBe(true);
  });
  it('applies 1..128 to every id and attribute', () => {
    const long = 'x'.repeat(129);
    for (const [base, f] of [
      [purchase, 'orderId'], [purchase, 'channel'], [referral, 'referralId'], [referral, 'referrerId'],
      [referral, 'referredCustomerId'], [survey, 'surveyId'], [customer, 'segment'], [customer, 'channel'],
    ] as const) {
      expect(errorsOf(line(base, { [f]: long }))).toEqual([`${f}: must be 1 to 128 characters long (got 129)`]);
      expect(errorsOf(line(base, { [f]: '' }))).toEqual([`${f}: must be 1 to 128 characters long (got 0)`]);
      expect(line(base, { [f]: 'x'.repeat(128) }).ok).toBe(true);
    }
  });
  it('rejects control characters, tab and newline included', () => {
    for (const c of ['\u0000', '\t', '\n', '\u001b', '\u007f', '\u0085']) {
      expect(errorsOf(line(purchase, { customerId: `a${c}b` }))).toEqual(['customerId: must not contain control characters']);
    }
  });
  it('rejects unpaired surrogates but keeps paired ones', () => {
    expect(errorsOf(validateLine(JSON.stringify(purchase).replace('"c1"', '"c\\ud800"')))).toEqual(['customerId: must be valid Unicode (unpaired surrogate)']);
    expect(errorsOf(validateLine(JSON.stringify(purchase).replace('"c1"', '"\\udc00c"')))).toEqual(['customerId: must be valid Unicode (unpaired surrogate)']);
    expect(rowOf(validateLine(JSON.stringify(purchase).replace('"c1"', '"\\ud83d\\ude00"'))).customer_id).toBe('😀');
  });
  it('rejects non-string values', () => {
    expect(errorsOf(line(purchase, { orderId: 12 }))).toEqual(['orderId: must be a string (got number)']);
    expect(errorsOf(line(purchase, { channel: ['web'] }))).toEqual(['channel: must be a string (got array)']);
    expect(errorsOf(line(purchase, { customerId: { id: 1 } }))).toEqual(['customerId: must be a string (got object)']);
    expect(errorsOf(line(purchase, { eventId: true }))).toEqual(['eventId: must be a string (got boolean)']);
  });
  it('ignores unknown fields', () => {
    expect(line(purchase, { foo: 'bar', amountX: 'y', nested: { amount: 'zzz' } }).ok).toBe(true);
  });
});

describe('loyalty events (spec section 14)', () => {
  const loyalty = { type: 'loyalty', eventId: 'l1', customerId: 'c1', occurredAt: '2024-03-01T10:00:00+02:00', action: 'JOINED' };
  it('maps a loyalty event, its tier and points null when absent', () => {
    expect(rowOf(line(loyalty))).toEqual({ event_id: 'l1', customer_id: 'c1', occurred_at: '2024-03-01 08:00:00.000', action: 'JOINED', tier: null, points: null });
    expect(rowOf(line(loyalty, { tier: 'Gold' }))).toMatchObject({ action: 'JOINED', tier: 'Gold' });
    expect(rowOf(line(loyalty, { action: 'POINTS_EARNED', points: 1e9 }))).toMatchObject({ points: 1_000_000_000 });
  });
  it('requires a tier for TIER_CHANGED and points for the points actions, naming the action', () => {
    expect(errorsOf(line(loyalty, { action: 'TIER_CHANGED' }))).toEqual(['tier: required when action is TIER_CHANGED']);
    expect(errorsOf(line(loyalty, { action: 'POINTS_EARNED' }))).toEqual(['points: required when action is POINTS_EARNED']);
    expect(errorsOf(line(loyalty, { action: 'POINTS_REDEEMED', points: null }))).toEqual(['points: required when action is POINTS_REDEEMED']);
  });
  it('takes points as integers from 1 to 1e9 only', () => {
    expect(errorsOf(line(loyalty, { action: 'POINTS_EARNED', points: 0 }))).toEqual(['points: must be between 1 and 1000000000 (got 0)']);
    expect(errorsOf(line(loyalty, { action: 'POINTS_EARNED', points: 1e9 + 1 }))).toEqual(['points: must be between 1 and 1000000000 (got 1000000001)']);
    expect(errorsOf(line(loyalty, { action: 'POINTS_EARNED', points: 2.5 }))).toEqual(['points: must be an integer (got 2.5)']);
    expect(errorsOf(line(loyalty, { action: 'POINTS_EARNED', points: '10' }))).toEqual(['points: must be an integer (got "10")']);
  });
  it('takes a tier of 1 to 64 code points without control characters, and a known action', () => {
    expect(rowOf(line(loyalty, { action: 'TIER_CHANGED', tier: '😀'.repeat(64) })).tier).toBe('😀'.repeat(64));
    expect(errorsOf(line(loyalty, { action: 'TIER_CHANGED', tier: 'x'.repeat(65) }))).toEqual(['tier: must be 1 to 64 characters long (got 65)']);
    expect(errorsOf(line(loyalty, { action: 'TIER_CHANGED', tier: '' }))).toEqual(['tier: must be 1 to 64 characters long (got 0)']);
    expect(errorsOf(line(loyalty, { tier: 'a\tb' }))).toEqual(['tier: must not contain control characters']);
    expect(errorsOf(line(loyalty, { action: 'UPGRADED' }))).toEqual(['action: must be one of JOINED, TIER_CHANGED, POINTS_EARNED, POINTS_REDEEMED, LEFT (got "UPGRADED")']);
  });
});

describe('refund amount and reason', () => {
  it('refuses zero and negative refunds, however written', () => {
    for (const amount of ['0', '0.00', '-0', 0, -0.0, '-5']) {
      const got = typeof amount === 'string' ? JSON.stringify(amount) : String(amount);
      expect(errorsOf(line(refund, { amount })), String(amount)).toEqual([`amount: a refund must be > 0 (got ${got})`]);
    }
  });
  it('applies the purchase rules otherwise', () => {
    expect(rowOf(line(refund, { amount: 0.0001 })).amount).toBe('0.0001');
    expect(errorsOf(line(refund, { amount: '1.00001' }))).toEqual(['amount: must have at most 4 decimal places (got 5)']);
    expect(errorsOf(line(refund, { amount: '1000000000000.01' }))).toEqual(['amount: must be <= 1000000000000 (got "1000000000000.01")']);
  });
  it('takes a reason of up to 500 code points, line breaks allowed', () => {
    expect(rowOf(line(refund, { reason: 'x\n'.repeat(250) })).reason).toHaveLength(500);
    expect(errorsOf(line(refund, { reason: 'x'.repeat(501) }))).toEqual(['reason: must be 0 to 500 characters long (got 501)']);
    expect(errorsOf(line(refund, { orderId: '' }))).toEqual(['orderId: must be 1 to 128 characters long (got 0)']);
  });
});

describe('comment', () => {
  it('accepts up to 5000 code points, the empty string included', () => {
    expect(line(survey, { comment: '😀'.repeat(5000) }).ok).toBe(true);
    expect(rowOf(line(survey, { comment: '' })).comment).toBe('');
    expect(errorsOf(line(survey, { comment: 'a'.repeat(5001) }))).toEqual(['comment: must be 0 to 5000 characters long (got 5001)']);
  });
  it('rejects control characters other than tab and line breaks', () => {
    expect(errorsOf(line(survey, { comment: 'bell\u0007' }))).toEqual(['comment: must not contain control characters']);
  });
});

describe('timestamps', () => {
  const stored = (s: string) => rowOf(at(s)).occurred_at;
  it('stores UTC with milliseconds', () => {
    expect(stored('2024-03-01T09:30:00Z')).toBe('2024-03-01 09:30:00.000');
    expect(stored('2024-03-01T09:30:00.5Z')).toBe('2024-03-01 09:30:00.500');
    expect(stored('2024-03-01T09:30:00.12Z')).toBe('2024-03-01 09:30:00.120');
    expect(stored('2024-03-01T09:30:00+02:00')).toBe('2024-03-01 07:30:00.000');
    expect(stored('2024-03-01T09:30:00.250-05:30')).toBe('2024-03-01 15:00:00.250');
    expect(stored('2024-03-01T09:30:00-00:00')).toBe('2024-03-01 09:30:00.000');
  });
  it('moves across a date boundary with the offset (leap day)', () => {
    expect(stored('2024-03-01T00:30:00+02:00')).toBe('2024-02-29 22:30:00.000');
    expect(stored('2023-12-31T23:30:00-01:00')).toBe('2024-01-01 00:30:00.000');
  });
  it('truncates finer digits instead of rounding', () => {
    expect(stored('2024-03-01T23:59:59.9999Z')).toBe('2024-03-01 23:59:59.999');
    expect(stored('2024-03-01T23:59:59.999999999Z')).toBe('2024-03-01 23:59:59.999');
    expect(stored('2024-03-01T01:59:59.9999+02:00')).toBe('2024-02-29 23:59:59.999');
  });
  it('accepts the range [1970-01-01, 2100-01-01)', () => {
    expect(stored('1970-01-01T00:00:00Z')).toBe('1970-01-01 00:00:00.000');
    expect(stored('2099-12-31T23:59:59.999Z')).toBe('2099-12-31 23:59:59.999');
    expect(stored('1969-12-31T23:00:00-01:00')).toBe('1970-01-01 00:00:00.000');
    expect(stored('2100-01-01T00:30:00+01:00')).toBe('2099-12-31 23:30:00.000');
    const range = (v: string) => `occurredAt: must be in [1970-01-01T00:00:00Z, 2100-01-01T00:00:00Z) (got "${v}")`;
    for (const v of ['1969-12-31T23:59:59.999Z', '2100-01-01T00:00:00Z', '1970-01-01T00:30:00+01:00', '2099-12-31T23:30:00-01:00', '0001-01-01T00:00:00Z', '9999-12-31T23:59:59Z']) {
      expect(errorsOf(at(v))).toEqual([range(v)]);
    }
  });
  it('requires a zone', () => {
    expect(errorsOf(at('2024-03-01T09:30:00'))).toEqual(['occurredAt: timestamp must include a zone (Z or ±hh:mm)']);
    expect(errorsOf(at('2024-03-01T09:30:00.123'))).toEqual(['occurredAt: timestamp must include a zone (Z or ±hh:mm)']);
  });
  it('rejects ±hhmm and ±hh offsets with their own message', () => {
    expect(errorsOf(at('2024-03-01T09:30:00+0200'))).toEqual(['occurredAt: zone offset must be written ±hh:mm (got "2024-03-01T09:30:00+0200")']);
    expect(errorsOf(at('2024-03-01T09:30:00-02'))).toEqual(['occurredAt: zone offset must be written ±hh:mm (got "2024-03-01T09:30:00-02")']);
  });
  it('checks the calendar', () => {
    for (const v of ['2023-02-29T00:00:00Z', '2100-02-29T00:00:00+05:00', '2024-04-31T00:00:00Z', '2024-13-01T00:00:00Z', '2024-00-10T00:00:00Z',
      '2024-01-00T00:00:00Z', '2024-01-01T24:00:00Z', '2024-01-01T23:60:00Z', '2016-12-31T23:59:60Z', '2024-01-01T00:00:00+24:00', '2024-01-01T00:00:00+01:60']) {
      expect(errorsOf(at(v))).toEqual([`occurredAt: not a valid calendar date and time (got "${v}")`]);
    }
    expect(stored('2024-02-29T12:00:00Z')).toBe('2024-02-29 12:00:00.000');
    expect(stored('2000-02-29T12:00:00Z')).toBe('2000-02-29 12:00:00.000');
  });
  it('rejects other shapes', () => {
    for (const v of ['2024-03-01', '2024-03-01 09:30:00Z', '2024-03-01t09:30:00z', '2024-03-01T09:30Z', '2024-3-1T09:30:00Z', '2024-03-01T09:30:00.Z',
      '2024-03-01T09:30:00ZZ', '2024-03-01T09:30:00 Z', '2024-03-01T09:30:00+02:00:00', '+2024-03-01T09:30:00Z', 'yesterday', '']) {
      expect(errorsOf(at(v))).toEqual([`occurredAt: must be an ISO-8601 timestamp like 2024-03-01T09:30:00Z (got ${JSON.stringify(v)})`]);
    }
    expect(errorsOf(at(1709285400000 as unknown as string))).toEqual(['occurredAt: must be a string (got number)']);
  });
  it('cuts long values in messages', () => {
    const v = `2024-03-01T09:30:00.${'1'.repeat(100)}x`;
    expect(errorsOf(at(v))).toEqual([`occurredAt: must be an ISO-8601 timestamp like 2024-03-01T09:30:00Z (got ${JSON.stringify(v).slice(0, 64)}…)`]);
  });
});

describe('amount', () => {
  const stored = (a: string | number) => rowOf(line(purchase, { amount: a })).amount;
  it('keeps the exact decimal as normalized text', () => {
    expect(stored('12.34')).toBe('12.34');
    expect(stored('12.3400')).toBe('12.34');
    expect(stored('0012.5')).toBe('12.5');
    expect(stored('7')).toBe('7');
    expect(stored('7.0')).toBe('7');
    expect(stored('0.0001')).toBe('0.0001');
    expect(stored(12.5)).toBe('12.5');
    expect(amountRaw('99999999999.9999').ok && rowOf(amountRaw('99999999999.9999')).amount).toBe('99999999999.9999');
  });
  it('accepts the bounds 0 and 1e12', () => {
    expect(stored('0')).toBe('0');
    expect(stored(0)).toBe('0');
    expect(stored('1000000000000')).toBe('1000000000000');
    expect(stored('1000000000000.0000')).toBe('1000000000000');
    expect(rowOf(amountRaw('1e12')).amount).toBe('1000000000000');
    expect(rowOf(amountRaw('1000000000000.0')).amount).toBe('1000000000000');
  });
  it('rejects more than 1e12', () => {
    expect(errorsOf(line(purchase, { amount: '1000000000000.0001' }))).toEqual(['amount: must be <= 1000000000000 (got "1000000000000.0001")']);
    expect(errorsOf(amountRaw('1000000000000.0001'))).toEqual(['amount: must be <= 1000000000000 (got 1000000000000.0001)']);
    expect(errorsOf(amountRaw('1000000000001'))).toEqual(['amount: must be <= 1000000000000 (got 1000000000001)']);
    expect(errorsOf(amountRaw('1e13'))).toEqual(['amount: must be <= 1000000000000 (got 1e13)']);
    expect(errorsOf(amountRaw('1.0000000000001e12'))).toEqual(['amount: must be <= 1000000000000 (got 1.0000000000001e12)']);
    expect(errorsOf(amountRaw('1000000000000.00001'))).toEqual([
      'amount: must be <= 1000000000000 (got 1000000000000.00001)',
      'amount: must have at most 4 decimal places (got 5)',
    ]);
    expect(errorsOf(line(purchase, { amount: '99999999999999999999' }))).toEqual(['amount: must be <= 1000000000000 (got "99999999999999999999")']);
    expect(errorsOf(amountRaw('1e999'))).toEqual(['amount: must be <= 1000000000000 (got 1e999)']);
  });
  it('counts decimals on the literal as written: 4 pass, 5 do not', () => {
    expect(stored('1.1234')).toBe('1.1234');
    expect(rowOf(amountRaw('1.1234')).amount).toBe('1.1234');
    expect(rowOf(amountRaw('1.1000')).amount).toBe('1.1');
    expect(errorsOf(line(purchase, { amount: '1.12345' }))).toEqual(['amount: must have at most 4 decimal places (got 5)']);
    expect(errorsOf(amountRaw('1.12345'))).toEqual(['amount: must have at most 4 decimal places (got 5)']);
    expect(errorsOf(amountRaw('1.10000'))).toEqual(['amount: must have at most 4 decimal places (got 5)']);
    expect(errorsOf(amountRaw('1.50000'))).toEqual(['amount: must have at most 4 decimal places (got 5)']);
    expect(errorsOf(line(purchase, { amount: '1.10000' }))).toEqual(['amount: must have at most 4 decimal places (got 5)']);
  });
  it('counts exponent notation on the value written (fraction digits minus exponent)', () => {
    expect(rowOf(amountRaw('1e2')).amount).toBe('100');
    expect(rowOf(amountRaw('1E+2')).amount).toBe('100');
    expect(rowOf(amountRaw('1.5e-3')).amount).toBe('0.0015');
    expect(rowOf(amountRaw('1.50000e1')).amount).toBe('15');
    expect(rowOf(amountRaw('123.456e-1')).amount).toBe('12.3456');
    expect(rowOf(amountRaw('0e5')).amount).toBe('0');
    expect(errorsOf(amountRaw('1e-5'))).toEqual(['amount: must have at most 4 decimal places (got 5)']);
    expect(errorsOf(amountRaw('1.5e-4'))).toEqual(['amount: must have at most 4 decimal places (got 5)']);
  });
  it('uses the last duplicate amount, as JSON.parse does', () => {
    expect(rowOf(validateLine('{"type":"purchase","amount":"x","eventId":"p1","customerId":"c1","occurredAt":"2024-03-01T10:00:00Z","currency":"USD","amount":1.25}')).amount).toBe('1.25');
    expect(errorsOf(validateLine('{"type":"purchase","amount":1.5,"eventId":"p1","customerId":"c1","occurredAt":"2024-03-01T10:00:00Z","currency":"USD","amount":2.00000}'))).toEqual([
      'amount: must have at most 4 decimal places (got 5)',
    ]);
  });
  it('accepts negative zero as 0 and rejects other negatives', () => {
    expect(stored('-0')).toBe('0');
    expect(stored('-0.00')).toBe('0');
    expect(rowOf(amountRaw('-0')).amount).toBe('0');
    expect(rowOf(amountRaw('-0.0')).amount).toBe('0');
    expect(errorsOf(line(purchase, { amount: '-1' }))).toEqual(['amount: must be >= 0 (got "-1")']);
    expect(errorsOf(amountRaw('-0.01'))).toEqual(['amount: must be >= 0 (got -0.01)']);
  });
  it('rejects malformed strings and wrong types', () => {
    const fmt = (v: string) => [`amount: must be a decimal number like "12.34" (got ${JSON.stringify(v)})`];
    for (const v of ['', ' 1', '1 ', '+1', '1.', '.5', '1e2', '1,5', 'abc', '0x10', 'NaN', 'Infinity', '1.2.3', '١٢']) {
      expect(errorsOf(line(purchase, { amount: v }))).toEqual(fmt(v));
    }
    expect(errorsOf(line(purchase, { amount: true }))).toEqual(['amount: must be a decimal string or a number (got boolean)']);
    expect(errorsOf(line(purchase, { amount: [1] }))).toEqual(['amount: must be a decimal string or a number (got array)']);
    expect(errorsOf(line(purchase, { amount: { v: 1 } }))).toEqual(['amount: must be a decimal string or a number (got object)']);
    expect(errorsOf(line(purchase, { amount: null }))).toEqual(['amount: is required']);
  });
  it('counts a JS number without its literal on its shortest form (GraphQL variables)', () => {
    const { type: _t, ...input } = purchase;
    const amountOf = (a: number) => {
      const r = validateEvent({ ...input, amount: a }, 'purchase');
      return r.ok ? r.event.type === 'purchase' && r.event.row.amount : r.errors;
    };
    expect(amountOf(1.5)).toBe('1.5');
    expect(amountOf(1e12)).toBe('1000000000000');
    expect(amountOf(0.00015)).toEqual(['amount: must have at most 4 decimal places (got 5)']);
    expect(amountOf(1e-7)).toEqual(['amount: must have at most 4 decimal places (got 7)']);
    expect(amountOf(1e21)).toEqual(['amount: must be <= 1000000000000 (got 1e+21)']);
    expect(amountOf(Number.POSITIVE_INFINITY)).toEqual(['amount: must be a decimal number like "12.34" (got Infinity)']);
    expect(amountOf(Number.NaN)).toEqual(['amount: must be a decimal number like "12.34" (got NaN)']);
    expect(validateEvent({ ...input, amount: 1.5 }, 'purchase', '1.50000').ok).toBe(false);
  });
});

describe('currency and country', () => {
  it('requires 3 upper-case letters of a real ISO 4217 code', () => {
    expect(line(purchase, { currency: 'EUR' }).ok).toBe(true);
    expect(line(purchase, { currency: 'XCG' }).ok).toBe(true);
    expect(errorsOf(line(purchase, { currency: 'usd' }))).toEqual(['currency: must be 3 upper-case letters (got "usd")']);
    expect(errorsOf(line(purchase, { currency: 'USDT' }))).toEqual(['currency: must be 3 upper-case letters (got "USDT")']);
    expect(errorsOf(line(purchase, { currency: 840 }))).toEqual(['currency: must be 3 upper-case letters (got 840)']);
    expect(errorsOf(line(purchase, { currency: 'ABC' }))).toEqual(['currency: not an ISO 4217 currency code (got "ABC")']);
    expect(errorsOf(line(purchase, { currency: 'HRK' }))).toEqual(['currency: not an ISO 4217 currency code (got "HRK")']);
  });
  it('knows every current currency and country code (checked against ICU names)', () => {
    const cur = new Intl.DisplayNames(['en'], { type: 'currency' });
    for (const c of ISO_4217) expect(cur.of(c), c).not.toBe(c);
    const reg = new Intl.DisplayNames(['en'], { type: 'region' });
    for (const c of ISO_3166_ALPHA2) expect(reg.of(c), c).not.toBe(c);
    expect(ISO_3166_ALPHA2.size).toBe(249);
    expect(ISO_4217.size).toBe(179);
  });
  it('requires an ISO 3166-1 alpha-2 country when one is given', () => {
    expect(line(customer, { country: 'FR' }).ok).toBe(true);
    for (const v of ['fr', 'FRA', 'XX', 'UK', '', 33]) {
      expect(errorsOf(line(customer, { country: v }))).toEqual([`country: must be an ISO 3166-1 alpha-2 code (got ${JSON.stringify(v)})`]);
    }
  });
});

describe('referral stage', () => {
  it('accepts the three stages', () => {
    for (const stage of ['INVITED', 'CLICKED']) expect(line(referral, { stage }).ok).toBe(true);
  });
  it('rejects other stages', () => {
    expect(errorsOf(line(referral, { stage: 'invited' }))).toEqual(['stage: must be one of INVITED, CLICKED, SIGNED_UP (got "invited")']);
  });
  it('requires referredCustomerId when stage is SIGNED_UP', () => {
    expect(errorsOf(line(referral, { stage: 'SIGNED_UP' }))).toEqual(['referredCustomerId: required when stage is SIGNED_UP']);
    expect(errorsOf(line(referral, { stage: 'SIGNED_UP', referredCustomerId: null }))).toEqual(['referredCustomerId: required when stage is SIGNED_UP']);
    expect(errorsOf(line(referral, { stage: 'SIGNED_UP', referredCustomerId: '' }))).toEqual(['referredCustomerId: must be 1 to 128 characters long (got 0)']);
    expect(rowOf(line(referral, { stage: 'CLICKED', referredCustomerId: 'c9' })).referred_customer_id).toBe('c9');
  });
});

describe('survey score', () => {
  it('accepts integers 0..10 for NPS and 1..5 for CSAT', () => {
    for (const score of [0, 10]) expect(line(survey, { score }).ok).toBe(true);
    for (const score of [1, 5]) expect(line(survey, { kind: 'CSAT', score }).ok).toBe(true);
  });
  it('rejects out-of-range scores with the range of the kind', () => {
    expect(errorsOf(line(survey, { score: 11 }))).toEqual(['score: must be between 0 and 10 for NPS (got 11)']);
    expect(errorsOf(line(survey, { score: -1 }))).toEqual(['score: must be between 0 and 10 for NPS (got -1)']);
    expect(errorsOf(line(survey, { kind: 'CSAT', score: 0 }))).toEqual(['score: must be between 1 and 5 for CSAT (got 0)']);
    expect(errorsOf(line(survey, { kind: 'CSAT', score: 6 }))).toEqual(['score: must be between 1 and 5 for CSAT (got 6)']);
  });
  it('accepts an integer-valued JSON number such as 9.0', () => {
    expect(rowOf(validateLine(JSON.stringify(survey).replace('"score":9', '"score":9.0'))).score).toBe(9);
  });
  it('rejects fractions, strings and an unknown kind', () => {
    expect(errorsOf(line(survey, { score: 8.5 }))).toEqual(['score: must be an integer (got 8.5)']);
    expect(errorsOf(line(survey, { score: '9' }))).toEqual(['score: must be an integer (got "9")']);
    expect(errorsOf(line(survey, { kind: 'CES', score: 99 }))).toEqual(['kind: must be one of NPS, CSAT (got "CES")']);
  });
});

describe('JSON lines', () => {
  it('rejects a line that is not a JSON object', () => {
    for (const t of ['[1,2]', '42', 'null', '"purchase"', 'true']) {
      expect(validateLine(t)).toEqual({ ok: false, eventId: null, errors: ['line is not a JSON object'] });
    }
    expect(validateEvent([purchase])).toEqual({ ok: false, eventId: null, errors: [messages.notObject] });
  });
  it('keeps JSON.parse reason for invalid JSON', () => {
    expect(validateLine('{"type":')).toEqual({ ok: false, eventId: null, errors: ['invalid JSON: Unexpected end of JSON input'] });
    expect(validateLine(' purchase,p1,c1')).toEqual({ ok: false, eventId: null, errors: [`invalid JSON: a line must hold one JSON object, starting with '{' (got "p")`] });
    expect(validateLine('\u00e9t\u00e9')).toEqual({ ok: false, eventId: null, errors: [`invalid JSON: a line must hold one JSON object, starting with '{' (got "\u00e9")`] });
    const r = validateLine("{'a':1}");
    expect(errorsOf(r)).toHaveLength(1);
    expect(errorsOf(r)[0]).toMatch(/^invalid JSON: /);
    expect(errorsOf(r)[0]).not.toMatch(/\n\s+at /);
  });
  it('finds the literal of the top-level amount only', () => {
    const lit = (t: string) => parseJsonLine(t).ok && (parseJsonLine(t) as { amountLiteral?: string }).amountLiteral;
    expect(lit('{"amount":1.50000}')).toBe('1.50000');
    expect(lit(' { "amount" : -1.5e+3 , "x":1 } ')).toBe('-1.5e+3');
    expect(lit('{"note":"\\"amount\\":9.99999","nested":{"amount":7.00000},"list":[{"amount":3}],"amount":2.50}')).toBe('2.50');
    expect(lit('{"\\u0061mount":4.10}')).toBe('4.10');
    expect(lit('{"a\\\\":"}","amount":5.0}')).toBe('5.0');
    expect(lit('{"amount":1.00000,"amount":2.0}')).toBe('2.0');
    expect(lit('{"amount":"1.5"}')).toBeUndefined();
    expect(lit('{"x":{"amount":1.5}}')).toBeUndefined();
    expect(topLevelLiteral('{}', 'amount')).toBeUndefined();
    expect(topLevelLiteral('{"a":[1,{"b":"]}"}],"amount":0.25}', 'amount')).toBe('0.25');
  });
});

// Deterministic PRNG (mulberry32) so a failure reproduces.
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('mini-fuzz', () => {
  it('never throws and always answers ok or non-empty messages', () => {
    const rnd = prng(20240301);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
    const bases = [purchase, referral, survey, customer, { ...referral, stage: 'SIGNED_UP', referredCustomerId: 'c2' }, { ...survey, kind: 'CSAT', score: 4, comment: 'ok' }];
    const weird: unknown[] = [
      null, true, false, 0, -0, -1, 1.5, 1e308, -1e-308, Number.MAX_SAFE_INTEGER, '', ' ', 'x'.repeat(5000), '😀'.repeat(200), '\u0000', '\ud800', 'a\nb',
      [], [1], {}, { a: { b: [] } }, '2024-02-30T00:00:00Z', '2024-03-01T00:00:00+99:99', '1e5', '-0', '1.00000', 'NPS', 'SIGNED_UP', 'purchase', 'USD', 'US',
      '__proto__', 'constructor', 'toString',
    ];
    const fields = ['type', 'eventId', 'customerId', 'occurredAt', 'amount', 'currency', 'orderId', 'channel', 'referralId', 'stage', 'referrerId',
      'referredCustomerId', 'surveyId', 'kind', 'score', 'comment', 'country', 'segment', '__proto__', 'constructor'];
    const types: (EventType | undefined)[] = [undefined, undefined, undefined, 'purchase', 'referral', 'survey', 'customer'];
    let ok = 0;
    let rejected = 0;
    for (let n = 0; n < 4000; n++) {
      const o: Record<string, unknown> = { ...pick(bases) };
      const edits = Math.floor(rnd() * 4);
      for (let e = 0; e < edits; e++) {
        const f = pick(fields);
        if (rnd() < 0.3) delete o[f];
        else o[f] = pick(weird);
      }
      let text = JSON.stringify(o);
      const mutation = rnd();
      if (mutation < 0.1) text = text.slice(0, Math.floor(rnd() * text.length));
      else if (mutation < 0.15) text = `[${text}]`;
      else if (mutation < 0.2) {
        const i = Math.floor(rnd() * text.length);
        text = text.slice(0, i) + pick(['"', '{', '}', ',', ':', '\\', '\u0001', 'e', '.', '-', '0']) + text.slice(i + 1);
      } else if (mutation < 0.25) text = text.replace(/"amount":"([0-9.]+)"/, '"amount":$1');
      const expected = pick(types);
      for (const r of [validateLine(text), validateEvent(safeParse(text), expected)]) {
        if (r.ok) {
          ok++;
          expect(Object.values(r.event.row).every((v) => v === null || typeof v === 'string' || typeof v === 'number')).toBe(true);
        } else {
          rejected++;
          expect(r.errors.length).toBeGreaterThan(0);
          for (const m of r.errors) expect(m).toMatch(/^(?:[a-zA-Z]+: \S|line is not a JSON object$|invalid JSON: )/);
          expect(r.eventId === null || typeof r.eventId === 'string').toBe(true);
        }
      }
    }
    expect(ok).toBeGreaterThan(100);
    expect(rejected).toBeGreaterThan(1000);
  });
});

describe('the rejected part of an answer', () => {
  it('counts every invalid line and keeps the first 1,000 in the order added', () => {
    const r = new Rejections();
    for (let line = 1; line <= 2_500; line++) r.add(line * 2, `e${line}`, ['x: bad']);
    expect(r.count).toBe(2_500);
    expect(r.listed).toHaveLength(1_000);
    expect(r.listed[0]).toEqual({ line: 2, eventId: 'e1', errors: ['x: bad'] });
    expect(r.listed[999]).toEqual({ line: 2_000, eventId: 'e1000', errors: ['x: bad'] });
  });
  it('bounds each line: at most 20 texts of at most 300 characters', () => {
    const r = new Rejections();
    r.add(1, null, Array.from({ length: 25 }, (_, i) => `f${i}: ${'v'.repeat(i === 0 ? 1_000_000 : 1)}`));
    const { errors } = r.listed[0]!;
    expect(errors).toHaveLength(20);
    expect(errors[0]).toBe(`f0: ${'v'.repeat(295)}…`);
    expect(errors[18]).toBe('f18: v');
    expect(errors[19]).toBe('and 6 more errors');
  });
});

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
