// Cell values of shop-system exports turned into the event contract's forms (spec section 1):
// amounts as plain decimal strings, timestamps as ISO-8601 with a zone, e-mail addresses as
// keyed hashes. Each parser answers a value or the reason it cannot; the reason never quotes
// an e-mail address. docs/importing.md documents every accepted form.
import { createHmac } from 'node:crypto';
import { ISO_4217 } from '../../../loaders/event-codes.js';

export type Parsed<T> = { ok: T } | { error: string };

/** Which character separates the decimals; undefined: decided per value (see parseAmount). */
export type DecimalMark = ',' | '.' | undefined;

/**
 * "1,234.50", "1.234,50", "25,00", "$12.00", "12,50 €", "EUR 9.99", "1 234,56", "1'234.50",
 * "-3.00", "-$3.00", "3.00-" and "(3.00)" (negative) as "1234.5", "1234.5", "25", … Currency
 * symbols and codes around the number are dropped. With both marks present the last one is the
 * decimal mark. With one kind of mark, one mark followed by other than exactly three digits is a
 * decimal mark and several are thousands separators; one followed by exactly three digits
 * ("1,234", "1.000") is ambiguous unless `mark` says which. Thousands separators must group by
 * three ("1,23.5" is no amount), and a `mark` that does not fit the value refuses it rather than
 * reading "25.00" as 2500. "12.-" is the Swiss whole amount 12.
 */
export function parseAmount(text: string, mark: DecimalMark = undefined): Parsed<string> {
  let s = text.trim();
  let negative = false;
  if (/^\(.*\)$/.test(s)) {
    negative = true;
    s = s.slice(1, -1);
  }
  // Symbols and codes before or after the number ($, €, Rs., kr., USD, …), and a sign among them:
  // "-$12.00", "$-12.00", "−12.00" (U+2212) and the trailing minus of "3.00-". A dot right after
  // a letter belongs to the symbol ("Rs. 1,234.50"), not to the number.
  const before = /^(?:[^\d.,]|(?<=\p{L})\.)*/u.exec(s)![0];
  s = s.slice(before.length);
  const after = /[^\d]*$/.exec(s)![0];
  s = s.slice(0, s.length - after.length);
  // "12.-" is the Swiss whole amount, not a sign.
  const swiss = /^[.,]-$/.test(after.trim());
  // Anything else around the number ("Order #2001", "5%", "12.50 USD (incl. VAT)") is no amount.
  if (!isCurrencyMark(before) || !(swiss || isCurrencyMark(after))) return { error: `not an amount: ${JSON.stringify(text)}` };
  const sign = (before + (swiss ? '' : after)).replace(/[^+\-\u2212]/g, '');
  if (sign.length > 1) return { error: `not an amount: ${JSON.stringify(text)}` };
  if (sign !== '' && sign !== '+') negative = !negative;
  s = s.replace(/[\s\u00a0\u202f']/g, '');
  if (!/^\d[\d.,]*$/.test(s) && !/^[.,]\d+$/.test(s)) return { error: `not an amount: ${JSON.stringify(text)}` };
  const lastComma = s.lastIndexOf(',');
  const lastDot = s.lastIndexOf('.');
  let decimal: ',' | '.' | undefined;
  if (lastComma >= 0 && lastDot >= 0) {
    decimal = lastComma > lastDot ? ',' : '.';
    if (mark !== undefined && mark !== decimal) return { error: `not an amount with --decimal ${mark}: ${JSON.stringify(text)}` };
  }
  else if (lastComma >= 0 || lastDot >= 0) {
    const m = lastComma >= 0 ? ',' : '.';
    const several = s.indexOf(m) !== s.lastIndexOf(m);
    if (mark !== undefined) decimal = mark === m ? m : undefined;
    else if (several) decimal = undefined;
    else if (s.length - s.indexOf(m) - 1 !== 3) decimal = m;
    else return { error: `ambiguous amount ${JSON.stringify(text)}: pass --decimal , (decimal comma) or --decimal . (decimal point)` };
  }
  const [whole, fraction, ...more] = decimal === undefined ? [s] : s.split(decimal);
  // The whole part is digits, or groups of three after the first, split by one kind of separator:
  // the other mark than the decimal one, or without a decimal mark the one the value has.
  const separator = decimal === undefined ? /[.,]/.exec(whole!)?.[0] : decimal === ',' ? '.' : ',';
  const wholeOk = /^\d*$/.test(whole!) || (separator !== undefined && new RegExp(`^\\d{1,3}(\\${separator}\\d{3})*$`).test(whole!));
  if (more.length > 0 || !wholeOk || (fraction !== undefined && !/^\d+$/.test(fraction))) {
    return { error: `not an amount${mark === undefined ? '' : ` with --decimal ${mark}`}: ${JSON.stringify(text)}` };
  }
  s = `${whole!.replace(/[.,]/g, '') || '0'}${fraction === undefined ? '' : `.${fraction}`}`;
  s = s.replace(/^0+(?=\d)/, '');
  if (s.includes('.')) s = s.replace(/0+$/, '').replace(/\.$/, '');
  return { ok: negative && /[1-9]/.test(s) ? `-${s}` : s };
}

/** Symbols written around amounts: $, US$, R$, €, £, ¥, kr, kr., Rs., zł, Kč, Ft, Fr., CHF 12.- … */
const CURRENCY_SYMBOL = /^(?:\p{L}{0,3}\p{Sc}|\p{Sc}\p{L}{0,3}|kr\.?|Rs\.?|zł|Kč|Ft|lei|S?Fr\.?)$/iu;

/** Text around an amount, signs and spaces aside: nothing, an ISO 4217 code or a currency symbol. */
function isCurrencyMark(affix: string): boolean {
  const t = affix.replace(/[\s+\-\u2212]/g, '');
  return t === '' || ISO_4217.has(t.toUpperCase()) || CURRENCY_SYMBOL.test(t);
}

/** Whether the amount `a` is at least `b`, both as parseAmount gives them and not negative: compared exactly, as decimals. */
export function atLeast(a: string, b: string): boolean {
  const [ai, af = ''] = a.split('.');
  const [bi, bf = ''] = b.split('.');
  const n = Math.max(af.length, bf.length);
  return BigInt(ai! + af.padEnd(n, '0')) >= BigInt(bi! + bf.padEnd(n, '0'));
}

/** Whether a parsed amount is above zero. */
export function positive(amount: string): boolean {
  return !amount.startsWith('-') && /[1-9]/.test(amount);
}

/** Day-month or month-day order of a date written with slashes; undefined: decided per value when unambiguous. */
export type DateOrder = 'dmy' | 'mdy' | undefined;

/** `Z`, `UTC`, `GMT`, `+02:00`, `+0200`, `-05`, `UTC+02:00`: a fixed offset as ±hh:mm or Z; undefined for anything else (zone names included). */
export function parseZone(text: string): string | undefined {
  const z = text.trim();
  if (/^(Z|UTC|GMT)$/i.test(z)) return 'Z';
  const m = /^(?:UTC|GMT)?([+-])(\d{2}):?(\d{2})?$/i.exec(z);
  if (!m || Number(m[2]) > 23 || Number(m[3] ?? 0) > 59) return undefined;
  return `${m[1]}${m[2]}:${m[3] ?? '00'}`;
}

const TIME = String.raw`(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(\.\d+)?)?(?:\s*([AaPp][Mm]))?)?`;
const ZONE = String.raw`\s*(Z|[+-]\d{2}(?::?\d{2})?|(?:UTC|GMT)(?:[+-]\d{2}(?::?\d{2})?)?)?`;
const ISO_DATE = new RegExp(String.raw`^(\d{4})-(\d{2})-(\d{2})${TIME}${ZONE}$`, 'i');
const DOT_DATE = new RegExp(String.raw`^(\d{1,2})\.(\d{1,2})\.(\d{4})${TIME}${ZONE}$`, 'i');
const SLASH_DATE = new RegExp(String.raw`^(\d{1,2})/(\d{1,2})/(\d{4})${TIME}${ZONE}$`, 'i');

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/**
 * A timestamp of an export as ISO-8601 with a zone: `2024-03-01 09:30:00 -0500` (Shopify),
 * `2024-03-01 14:30` (Stripe's "Created (UTC)", with `zone` Z), `2024-03-01T09:30:00+02:00`,
 * `01.03.2024 09:30`, `3/1/2024 9:30 PM`, a date alone (midnight). A value without its own
 * zone takes `zone`; without either it is refused (the service refuses zone-less times: an
 * importer guessing one would shift every event). Slashed dates follow `order`, else must be
 * unambiguous (a part above 12).
 */
export function parseTimestamp(text: string, zone: string | undefined, order: DateOrder = undefined): Parsed<string> {
  const s = text.trim();
  let y: number, mo: number, d: number;
  let m = ISO_DATE.exec(s);
  if (m) [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  else if ((m = DOT_DATE.exec(s))) [d, mo, y] = [Number(m[1]), Number(m[2]), Number(m[3])];
  else if ((m = SLASH_DATE.exec(s))) {
    const [a, b] = [Number(m[1]), Number(m[2])];
    const o = order ?? (a > 12 && b <= 12 ? 'dmy' : b > 12 && a <= 12 ? 'mdy' : a === b ? 'dmy' : undefined);
    if (o === undefined) return { error: `ambiguous date ${JSON.stringify(text)}: pass --date-order dmy or --date-order mdy` };
    [d, mo, y] = o === 'dmy' ? [a, b, Number(m[3])] : [b, a, Number(m[3])];
  } else return { error: `not a date and time: ${JSON.stringify(text)}` };
  let h = Number(m[4] ?? 0);
  const mi = Number(m[5] ?? 0);
  const sec = Number(m[6] ?? 0);
  const fraction = m[7] ?? '';
  const ampm = m[8]?.toLowerCase();
  if (ampm !== undefined) {
    if (h < 1 || h > 12) return { error: `not a valid time: ${JSON.stringify(text)}` };
    h = (h % 12) + (ampm === 'pm' ? 12 : 0);
  }
  const day = new Date(Date.UTC(y, mo - 1, d));
  if (day.getUTCFullYear() !== y || day.getUTCMonth() !== mo - 1 || day.getUTCDate() !== d || h > 23 || mi > 59 || sec > 59) {
    return { error: `not a valid calendar date and time: ${JSON.stringify(text)}` };
  }
  const written = m[9] === undefined ? undefined : parseZone(m[9]);
  if (m[9] !== undefined && written === undefined) return { error: `not a valid zone offset: ${JSON.stringify(text)}` };
  let z = written ?? zone;
  if (z === undefined) return { error: `no time zone in ${JSON.stringify(text)}: pass --tz (e.g. --tz Z, --tz +02:00 or --tz Europe/Berlin)` };
  if (z !== 'Z' && !/^[+-]\d{2}:\d{2}$/.test(z)) {
    z = offsetAt(z, Date.UTC(y, mo - 1, d, h, mi, sec));
    if (z === undefined) return { error: `${JSON.stringify(text)} is no time in ${zone}: a change of its offset (daylight saving) skips it` };
  }
  return { ok: `${pad(y, 4)}-${pad(mo)}-${pad(d)}T${pad(h)}:${pad(mi)}:${pad(sec)}${fraction}${z}` };
}

/**
 * The zone of --tz: a fixed offset (parseZone) or an IANA zone name, as the zone list writes it
 * (Europe/Berlin for europe/berlin); undefined for anything else.
 */
export function parseZoneOption(text: string): string | undefined {
  const fixed = parseZone(text);
  if (fixed !== undefined || !/^[A-Za-z][A-Za-z0-9_+\-/]*\/[A-Za-z0-9_+\-/]+$/.test(text.trim())) return fixed;
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: text.trim() }).resolvedOptions().timeZone;
  } catch {
    return undefined;
  }
}

/** One formatter per zone: making one costs more than formatting, and offsetAt asks three times per timestamp. */
const offsetFormats = new Map<string, Intl.DateTimeFormat>();

/** The offset (±hh:mm, or Z) of zone `tz` at instant `t` (ms). */
function offsetOf(tz: string, t: number): string {
  let format = offsetFormats.get(tz);
  if (!format) offsetFormats.set(tz, (format = new Intl.DateTimeFormat('en-US', { timeZone: tz, timeZoneName: 'longOffset' })));
  const name = format.formatToParts(new Date(t)).find((x) => x.type === 'timeZoneName')!.value;
  return name === 'GMT' ? 'Z' : name.slice(3, 9);
}

const offsetMs = (offset: string) => (offset === 'Z' ? 0 : (offset[0] === '-' ? -1 : 1) * (Number(offset.slice(1, 3)) * 60 + Number(offset.slice(4, 6))) * 60_000);

/**
 * The offset of zone `tz` at a local wall time (`local`, its fields read as UTC), so that the
 * timestamp names one instant: where a daylight-saving change repeats an hour, its first
 * occurrence (the offset before the change); undefined where a change skips the time. The
 * candidates are the offsets a day either side, which any change lies between.
 */
function offsetAt(tz: string, local: number): string | undefined {
  const fits = [offsetOf(tz, local - 86_400_000), offsetOf(tz, local + 86_400_000)]
    .map((offset) => ({ offset, at: local - offsetMs(offset) }))
    .filter((c) => offsetOf(tz, c.at) === c.offset)
    .sort((a, b) => a.at - b.at);
  return fits[0]?.offset;
}

/** The environment variable holding the key of the e-mail hash. */
export const HMAC_KEY_VARIABLE = 'IMPORT_HMAC_KEY';

/**
 * customerId for a customer known only by an e-mail address: `em_` and the first 32 hex
 * digits (128 bits) of HMAC-SHA256(key, address trimmed and lower-cased). Other services get
 * the same id with the same key and normalisation (docs/importing.md, "Customers known by
 * e-mail"); the address itself is never sent, stored, logged or written anywhere.
 */
export function emailCustomerId(key: string, email: string): string {
  return `em_${createHmac('sha256', key).update(email.trim().toLowerCase()).digest('hex').slice(0, 32)}`;
}

/** Plausibly an address (something@something): anything else is refused rather than hashed into a customer no live event will ever name. */
export function looksLikeEmail(text: string): boolean {
  return /^[^\s@]+@[^\s@]+$/.test(text.trim());
}

/** Something that reads as an address anywhere in a text. */
const EMAIL_IN_TEXT = /[^\s"'<>(),;:@]+@[^\s"'<>(),;:@]+/g;

/** The text with every address in it replaced, for messages and the side file. */
export function maskEmails(text: string): string {
  return text.includes('@') ? text.replace(EMAIL_IN_TEXT, '<e-mail address>') : text;
}

export function holdsEmail(text: string): boolean {
  // The pattern tries every start position; nearly no cell has an '@' at all (12% of an import's CPU without this).
  return text.includes('@') && text.search(EMAIL_IN_TEXT) >= 0;
}

/** The address of a bare address or of the `Name <address>` form mail programs write; undefined for any other text. */
export function emailOf(text: string): string | undefined {
  const t = text.trim();
  if (looksLikeEmail(t)) return t;
  const named = /^[^<>]*<([^<>\s@]+@[^<>\s@]+)>$/.exec(t);
  return named?.[1];
}
