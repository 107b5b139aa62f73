import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from './helpers/service.js';

// Seeded fuzzing of POST /v1/events. Each line is a valid event of one of the event types,
// then one mutation; the test knows from the mutation alone whether the line must be
// accepted (spec section 1 and 10), never from the service's validator. It then checks the
// answers (no 5xx, every non-blank line accounted for, exactly the rejected line numbers)
// and that the stored eventIds per table are exactly the ones it expects, first copy winning.

const SEED = 20_261_126;
const REQUESTS = 4;
const LINES_PER_REQUEST = 1_000;

/** mulberry32: small, seedable, good enough to pick mutations. */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  return {
    next,
    int: (n: number) => Math.floor(next() * n),
    pick: <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!,
    chance: (p: number) => next() < p,
  };
}
type Rng = ReturnType<typeof rng>;
type Obj = Record<string, unknown>;
type Type = 'purchase' | 'refund' | 'referral' | 'survey' | 'customer' | 'loyalty' | 'touch';
const TABLE: Record<Type, string> = {
  purchase: 'purchases', refund: 'refunds', referral: 'referrals', survey: 'survey_responses', customer: 'customers', loyalty: 'loyalty_events', touch: 'touches',
};
const TYPES: Type[] = ['purchase', 'refund', 'referral', 'survey', 'customer', 'loyalty', 'touch'];

function baseEvent(r: Rng, type: Type, eventId: string): Obj {
  const at = `202${r.int(6)}-0${1 + r.int(9)}-1${r.int(10)}T0${r.int(10)}:${10 + r.int(50)}:${10 + r.int(50)}${r.chance(0.5) ? `.${r.int(1000)}` : ''}Z`;
  const id = () => `id-${r.int(500)}`;
  switch (type) {
    case 'purchase':
      return { type, eventId, customerId: id(), occurredAt: at, amount: `${r.int(100_000)}.${r.int(100)}`, currency: r.pick(['USD', 'EUR', 'JPY']), orderId: id(), channel: r.pick(['web', 'app']) };
    case 'refund':
      return { type, eventId, customerId: id(), orderId: id(), occurredAt: at, amount: `${1 + r.int(100_000)}.${r.int(100)}`, currency: r.pick(['USD', 'EUR', 'JPY']), reason: r.pick(['damaged', 'two\nlines', '']) };
    case 'referral': {
      const stage = r.pick(['INVITED', 'CLICKED', 'SIGNED_UP']);
      return { type, eventId, referralId: id(), stage, referrerId: id(), ...(stage === 'SIGNED_UP' ? { referredCustomerId: id() } : {}), occurredAt: at, channel: 'email' };
    }
    case 'survey': {
      const kind = r.pick(['NPS', 'CSAT']);
      return { type, eventId, customerId: id(), surveyId: 's1', kind, score: kind === 'NPS' ? r.int(11) : 1 + r.int(5), occurredAt: at, comment: r.pick(['great', 'tab\there', 'two\nlines', 'ünïcødé ☕', '']) };
    }
    case 'customer':
      return { type, eventId, customerId: id(), occurredAt: at, country: r.pick(['US', 'DE', 'JP', 'BR']), channel: 'ads', segment: 'smb' };
    // Always a points action, so that `points` is required and `tier` optional whatever the mutation.
    case 'loyalty':
      return { type, eventId, customerId: id(), occurredAt: at, action: r.pick(['POINTS_EARNED', 'POINTS_REDEEMED']), points: 1 + r.int(1_000_000_000), tier: r.pick(['Gold', 'ü'.repeat(64)]) };
    case 'touch':
      return { type, eventId, customerId: id(), occurredAt: at, campaign: r.pick(['spring', 'win-back ☕']), stage: r.pick(['SENT', 'OPENED', 'CLICKED', 'HELD_OUT']), channel: r.pick(['EMAIL', 'SMS']) };
  }
}

const REQUIRED: Record<Type, string[]> = {
  purchase: ['type', 'eventId', 'customerId', 'occurredAt', 'amount', 'currency'],
  refund: ['type', 'eventId', 'customerId', 'orderId', 'occurredAt', 'amount', 'currency'],
  referral: ['type', 'eventId', 'referralId', 'stage', 'referrerId', 'occurredAt'],
  survey: ['type', 'eventId', 'customerId', 'surveyId', 'kind', 'score', 'occurredAt'],
  customer: ['type', 'eventId', 'customerId', 'occurredAt'],
  loyalty: ['type', 'eventId', 'customerId', 'occurredAt', 'action', 'points'],
  touch: ['type', 'eventId', 'customerId', 'occurredAt', 'campaign', 'stage'],
};
const OPTIONAL: Record<Type, string[]> = {
  purchase: ['orderId', 'channel'],
  refund: ['reason'],
  referral: ['channel'],
  survey: ['comment'],
  customer: ['country', 'channel', 'segment'],
  loyalty: ['tier'],
  touch: ['channel'],
};
/** String fields whose values are ids: 1..128 code points, no control characters. */
const ID_FIELDS: Record<Type, string[]> = {
  purchase: ['eventId', 'customerId', 'orderId', 'channel'],
  refund: ['eventId', 'customerId', 'orderId'],
  referral: ['eventId', 'referralId', 'referrerId', 'channel'],
  survey: ['eventId', 'customerId', 'surveyId'],
  customer: ['eventId', 'customerId', 'channel', 'segment'],
  loyalty: ['eventId', 'customerId'],
  touch: ['eventId', 'customerId', 'campaign', 'channel'],
};

interface Line {
  bytes: Buffer;
  valid: boolean;
  type: Type;
  eventId: string;
  amount?: string;
}

const json = (o: unknown) => Buffer.from(JSON.stringify(o));
/** Replaces the text of a string value with raw bytes (inside its quotes). */
function withRawBytes(o: Obj, field: string, raw: number[]): Buffer {
  const marker = '\u0000MARK\u0000';
  const text = JSON.stringify({ ...o, [field]: marker });
  const [before, after] = text.split(JSON.stringify(marker).slice(1, -1));
  return Buffer.concat([Buffer.from(before!), Buffer.from('ok'), Buffer.from(raw), Buffer.from(after!)]);
}

/** One mutation of a valid event: the bytes to send and whether the line must be accepted. */
function mutate(r: Rng, e: Obj, type: Type, firstLineOfBody: boolean, kind = r.int(24)): { bytes: Buffer; valid: boolean } {
  const without = (f: string) => Object.fromEntries(Object.entries(e).filter(([k]) => k !== f));
  switch (kind) {
    case 0:
    case 1:
    case 2:
      return { bytes: json(e), valid: true };
    case 3:
      return { bytes: Buffer.concat([json(e), Buffer.from('\r')]), valid: true }; // CRLF ending
    case 4:
      return { bytes: Buffer.from(`  ${JSON.stringify(e)}\t`), valid: true }; // JSON whitespace around
    case 5:
      return { bytes: json({ ...e, extra: [1, { amount: 1.234567 }], note: 'x'.repeat(r.int(200_000)) }), valid: true }; // unknown fields are ignored
    case 6:
      return { bytes: json(without(r.pick(REQUIRED[type]))), valid: false };
    case 7:
      return { bytes: json(without(r.pick(OPTIONAL[type]))), valid: true };
    case 8:
      return { bytes: json({ ...e, [r.pick(REQUIRED[type])]: null }), valid: false };
    case 9:
      return { bytes: json({ ...e, [r.pick(OPTIONAL[type])]: null }), valid: true };
    case 10: {
      // wrong JSON type; numbers only where no number is accepted
      const f = r.pick([...REQUIRED[type], ...OPTIONAL[type]]);
      const numberOk = f === 'amount' || f === 'score' || f === 'points';
      return { bytes: json({ ...e, [f]: r.pick(numberOk ? [true, {}, ['x']] : [42, true, {}, ['x']]) }), valid: false };
    }
    case 11: {
      const f = r.pick(ID_FIELDS[type]);
      const n = r.pick([128, 129, 5_000]);
      // astral characters: 128 code points are 256 UTF-16 units and still valid
      const s = r.chance(0.5) ? 'a'.repeat(n) : '😀'.repeat(n);
      return { bytes: json({ ...e, [f]: s }), valid: n === 128 };
    }
    case 12: {
      if (type !== 'survey') return { bytes: json({ ...e, [r.pick(ID_FIELDS[type])]: `a\u0001b` }), valid: false };
      const n = r.pick([5_000, 5_001]);
      return { bytes: json({ ...e, comment: 'c'.repeat(n) }), valid: n === 5_000 };
    }
    case 13: {
      // escaped control characters: never in ids; tab, LF and CR only in comments
      const f = type === 'survey' && r.chance(0.5) ? 'comment' : r.pick(ID_FIELDS[type]);
      const c = r.pick(['\t', '\n', '\r', '\u0000', '\u0007', '\u007f', '\u0085']);
      return { bytes: json({ ...e, [f]: `x${c}y` }), valid: f === 'comment' && (c === '\t' || c === '\n' || c === '\r') };
    }
    case 14: // a raw control byte inside a string is invalid JSON
      return { bytes: withRawBytes(e, r.pick(ID_FIELDS[type]), [r.pick([1, 9, 31])]), valid: false };
    case 15: // invalid UTF-8: stray byte, lone continuation, overlong '/', truncated sequence, surrogate
      return { bytes: withRawBytes(e, r.pick(ID_FIELDS[type]), r.pick([[0xff], [0x80], [0xc0, 0xaf], [0xe2, 0x82], [0xed, 0xa0, 0x80]])), valid: false };
    case 16: {
      const text = JSON.stringify(e);
      return { bytes: Buffer.from(text.slice(0, 1 + r.int(text.length - 1))), valid: false }; // truncated
    }
    case 17:
      return { bytes: Buffer.from(r.pick([`[${JSON.stringify(e)}]`, '42', '"purchase"', 'null', 'true', '{}', '[]'])), valid: false };
    case 18:
      return { bytes: json({ ...e, type: r.pick(['return', 'Purchase', '', 'survey ']) }), valid: false };
    case 19: {
      const [at, valid] = r.pick([
        ['2024-03-01T10:00:00', false],
        ['2024-03-01T10:00:00+05:30', true],
        ['2024-03-01T10:00:00.123456789-08:00', true],
        ['2024-03-01 10:00:00Z', false],
        ['2024-02-30T10:00:00Z', false],
        ['1970-01-01T00:00:00Z', true],
        ['2100-01-01T00:00:00Z', false],
        ['2024-03-01T10:00:00+0530', false],
      ] as const);
      return { bytes: json({ ...e, occurredAt: at }), valid };
    }
    case 20: {
      if (type === 'purchase') {
        const [amount, valid] = r.pick([
          ['"12.34567"', false],
          ['"-1"', false],
          ['12.5', true],
          ['1.50000e1', true],
          ['"1000000000000"', true],
          ['"1000000000000.0001"', false],
          ['"1e3"', false],
          ['" 12"', false],
        ] as const);
        return { bytes: Buffer.from(JSON.stringify({ ...e, amount: '\u0000' }).replace('"\\u0000"', amount)), valid };
      }
      if (type === 'refund') return { bytes: json({ ...e, amount: r.pick(['0', 0, '-5', '0.00001', '1000000000000.5']) }), valid: false };
      if (type === 'survey') return { bytes: json({ ...e, score: r.pick([-1, 11, 3.5, '9']) }), valid: false };
      if (type === 'referral') return { bytes: json({ ...e, stage: 'SIGNED_UP', referredCustomerId: undefined }), valid: false };
      if (type === 'loyalty') {
        return r.chance(0.5)
          ? { bytes: json({ ...e, points: r.pick([0, 1_000_000_001, 2.5, '9']) }), valid: false }
          : { bytes: json({ ...e, action: 'TIER_CHANGED', tier: r.pick([undefined, '', 'x'.repeat(65)]) }), valid: false };
      }
      if (type === 'touch') return { bytes: json({ ...e, stage: r.pick(['sent', 'BOUNCED', 'INVITED']) }), valid: false };
      return { bytes: json({ ...e, country: r.pick(['UK', 'us', 'XK', 'DEU']) }), valid: false };
    }
    case 21: // a byte order mark is skipped only at the very start of a body
      return { bytes: Buffer.from(`\ufeff${JSON.stringify(e)}`), valid: firstLineOfBody };
    case 22: // past the 1 MiB line limit
      return { bytes: json({ ...e, note: 'y'.repeat(r.chance(0.9) ? 10 : 1_100_000) }), valid: true };
    default:
      return { bytes: json({ ...e, eventId: r.pick(['', 42, {}]) }), valid: false };
  }
}

describe('POST /v1/events under fuzzed input', { timeout: 60_000 }, () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService('t_ingest_fuzz');
  });
  afterAll(async () => {
    await svc?.stop();
  });

  it(`accounts for every line and stores exactly the valid ones (seed ${SEED})`, async () => {
    const r = rng(SEED);
    const stored: Record<Type, Map<string, Line>> = { purchase: new Map(), refund: new Map(), referral: new Map(), survey: new Map(), customer: new Map(), loyalty: new Map(), touch: new Map() };
    const used: Record<Type, string[]> = { purchase: [], refund: [], referral: [], survey: [], customer: [], loyalty: [], touch: [] };
    let serial = 0;
    for (let req = 0; req < REQUESTS; req++) {
      const parts: Buffer[] = [];
      const expectedRejected: number[] = [];
      const sentLines = new Map<number, string>();
      let accepted = 0;
      let duplicates = 0;
      let nonBlank = 0;
      for (let n = 1; n <= LINES_PER_REQUEST; n++) {
        if (r.chance(0.04)) {
          parts.push(Buffer.from(r.pick(['', '   ', '\t', '\r', ' \t\r'])));
          continue;
        }
        nonBlank++;
        const type = r.pick(TYPES);
        // retries of earlier ids (duplicates), the same id under another type (not one), or a new id
        const reuse = used[type].length > 0 && r.chance(0.15);
        const other = !reuse && r.chance(0.05) ? used[r.pick(TYPES)] : [];
        const eventId = reuse ? r.pick(used[type]) : other.length > 0 ? r.pick(other) : `f-${++serial}`;
        const event = baseEvent(r, type, eventId);
        const kind = r.int(24);
        let { bytes, valid } = mutate(r, event, type, n === 1, kind);
        sentLines.set(n, `mutation ${kind}: ${bytes.toString().slice(0, 300)}`);
        // the 'note' mutation above makes some lines longer than the line limit
        if (bytes.length > 1024 * 1024) valid = false;
        if (!used[type].includes(eventId)) used[type].push(eventId);
        parts.push(bytes);
        if (!valid) {
          expectedRejected.push(n);
          continue;
        }
        // a valid line's own eventId and amount (a mutation may have replaced them)
        const sent = JSON.parse(bytes.toString().replace(/^\ufeff/, '')) as { eventId: string; amount?: string | number };
        if (stored[type].has(sent.eventId)) duplicates++;
        else {
          accepted++;
          stored[type].set(sent.eventId, { bytes, valid, type, eventId: sent.eventId, amount: String(sent.amount) });
        }
      }
      const body = Buffer.concat(parts.flatMap((p, i) => (i < parts.length - 1 || r.chance(0.5) ? [p, Buffer.from('\n')] : [p])));
      const res = await fetch(`${svc.url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body });
      expect(res.status, `request ${req}`).toBe(200);
      const answer = (await res.json()) as { accepted: number; duplicates: number; rejectedCount: number; rejected: { line: number; errors: string[] }[] };
      const got = new Map(answer.rejected.map((x) => [x.line, x.errors]));
      const want = new Set(expectedRejected);
      const wrong = [...sentLines.keys()].filter((n) => got.has(n) !== want.has(n)).map((n) => `line ${n}, ${want.has(n) ? 'should be rejected' : `rejected with ${JSON.stringify(got.get(n))}`}: ${sentLines.get(n)}`);
      expect(wrong, wrong.join('\n')).toEqual([]);
      expect(answer.accepted + answer.duplicates + answer.rejectedCount).toBe(nonBlank);
      expect(answer.rejected.map((x) => x.line)).toEqual(expectedRejected);
      expect([answer.accepted, answer.duplicates]).toEqual([accepted, duplicates]);
    }
    for (const type of TYPES) {
      const rows = await svc.exec.rows<{ event_id: string; amount?: number }>(
        { query: `SELECT event_id${type === 'purchase' ? ', amount' : ''} FROM {db:Identifier}.{t:Identifier} ORDER BY event_id`, query_params: { t: TABLE[type] } },
        { requestId: 't' },
      );
      expect(rows.map((x) => x.event_id)).toEqual([...stored[type].keys()].sort());
      if (type === 'purchase') {
        // the first accepted copy wins, whatever later copies carried
        for (const row of rows) expect(row.amount, row.event_id).toBe(Number(stored.purchase.get(row.event_id)!.amount));
      }
    }
  });
});
