// Any other CSV export (WooCommerce, a warehouse extract) through a column mapping:
// `--map occurredAt="Order Date",amount=Total,…` or a JSON/YAML file of the same pairs.
// docs/importing.md, "Any CSV", lists the fields and how ids are made.
import { readFileSync } from 'node:fs';
import { InputError } from '../event-files.js';
import { cell, customerOf, type ImportedEvent, type ImportedType, type ImportOptions, type RowMapper, type RowOutcome } from './source.js';
import { parseAmount, parseTimestamp, positive } from './values.js';

export const IMPORTED_TYPES: readonly ImportedType[] = ['purchase', 'refund', 'customer'];
export const MAP_FIELDS = ['type', 'eventId', 'customerId', 'email', 'occurredAt', 'amount', 'currency', 'orderId', 'channel', 'country', 'segment', 'reason', 'status'] as const;
export type MapField = (typeof MAP_FIELDS)[number];
export type ColumnMap = Partial<Record<MapField, string>>;

function checkField(name: string, where: string): MapField {
  if (!(MAP_FIELDS as readonly string[]).includes(name)) throw new InputError(`${where}: unknown field ${JSON.stringify(name)} (fields: ${MAP_FIELDS.join(', ')})`);
  return name as MapField;
}

/** `field=Column,field="Column, with comma",…`: the pairs of one --map value. */
export function parseMapOption(text: string, into: ColumnMap = {}): ColumnMap {
  const pair = /\s*([A-Za-z]+)\s*=\s*(?:"([^"]*)"|([^,"]*?))\s*(?:,|$)/y;
  let at = 0;
  while (at < text.length) {
    pair.lastIndex = at;
    const m = pair.exec(text);
    if (!m || pair.lastIndex === at) {
      throw new InputError(`--map: cannot read ${JSON.stringify(text.slice(at))}: write field=Column pairs separated by commas, e.g. --map occurredAt="Order Date",amount=Total`);
    }
    const column = m[2] ?? m[3]!;
    if (column === '') throw new InputError(`--map: field ${m[1]} has no column name`);
    into[checkField(m[1]!, '--map')] = column;
    at = pair.lastIndex;
  }
  return into;
}

/** A mapping file: a JSON or YAML (.yaml, .yml) object of field: "Column" pairs. */
export async function readMapFile(path: string, into: ColumnMap = {}): Promise<ColumnMap> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new InputError(`--map-file: cannot read ${path}: ${(e as Error).message}`);
  }
  let value: unknown;
  try {
    value = /\.ya?ml$/i.test(path) ? (await import('yaml')).parse(text) : JSON.parse(text);
  } catch (e) {
    throw new InputError(`--map-file ${path}: not valid ${/\.ya?ml$/i.test(path) ? 'YAML' : 'JSON'}: ${(e as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new InputError(`--map-file ${path}: must hold an object of field: "Column" pairs`);
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string' || v === '') throw new InputError(`--map-file ${path}: the column of ${k} must be a non-empty string`);
    into[checkField(k, `--map-file ${path}`)] = v;
  }
  return into;
}

export interface CsvOptions {
  map: ColumnMap;
  /** Every row's type when no type column is mapped. */
  type: ImportedType | undefined;
  /** The currency of every amount when no currency column is mapped. */
  currency: string | undefined;
  /** With a mapped status column: the statuses whose rows are imported (lower-case); other rows are skipped. */
  statuses: Set<string> | undefined;
}

/** Refuses, before any row is read, a mapping that could not make a valid event of any row. */
export function checkMapping(o: CsvOptions): void {
  const { map } = o;
  if (map.type === undefined && o.type === undefined) throw new InputError(`csv: pass --type (${IMPORTED_TYPES.join(', ')}) or map a type column (--map type=Column)`);
  if (map.occurredAt === undefined) throw new InputError('csv: map the occurredAt column (--map occurredAt=Column)');
  if (map.customerId === undefined && map.email === undefined) throw new InputError('csv: map customerId or email (--map customerId=Column or --map email=Column)');
  const money = map.type !== undefined || o.type !== 'customer';
  if (money && map.amount === undefined) throw new InputError('csv: purchases and refunds need the amount column (--map amount=Column)');
  if (money && map.currency === undefined && o.currency === undefined) throw new InputError('csv: map the currency column or pass --currency CODE');
  if (money && map.eventId === undefined && map.orderId === undefined) throw new InputError('csv: map eventId or orderId: event ids are made from them so that a re-run adds nothing');
  if (map.status !== undefined && o.statuses === undefined) throw new InputError('csv: a mapped status column needs --statuses with the statuses to import (e.g. --statuses completed,processing)');
  if (map.status === undefined && o.statuses !== undefined) throw new InputError('csv: --statuses needs a mapped status column (--map status=Column)');
}

export function csvMapper(file: string, header: string[], importOptions: ImportOptions, o: CsvOptions): RowMapper {
  const fields = Object.keys(o.map) as MapField[];
  const trimmed = header.map((h) => h.trim());
  const missing = fields.filter((f) => !trimmed.includes(o.map[f]!));
  if (missing.length > 0) {
    throw new InputError(
      `${file}: the header has no ${missing.map((f) => `${JSON.stringify(o.map[f])} column (mapped to ${f})`).join(', no ')} (columns: ${trimmed.join(', ') || 'none'})`,
    );
  }
  const at = Object.fromEntries(fields.map((f) => [f, trimmed.indexOf(o.map[f]!)])) as Partial<Record<MapField, number>>;
  return {
    map(cells): RowOutcome {
      const get = (f: MapField) => cell(cells, at[f]);
      const typeText = at.type === undefined ? o.type! : get('type').toLowerCase();
      if (!(IMPORTED_TYPES as readonly string[]).includes(typeText)) {
        return { rejected: [`${o.map.type}: must be one of ${IMPORTED_TYPES.join(', ')} (got ${JSON.stringify(typeText)})`], eventId: null };
      }
      const type = typeText as ImportedType;
      if (o.statuses && !o.statuses.has(get('status').toLowerCase())) return { skipped: `status ${get('status').toLowerCase() || '(empty)'}` };

      const errors: string[] = [];
      const customer = customerOf(
        importOptions,
        { value: get('customerId'), column: o.map.customerId ?? '' },
        o.map.email === undefined ? undefined : { value: get('email'), column: o.map.email },
        `${o.map.customerId ?? o.map.email}: is empty`,
      );
      if ('error' in customer) errors.push(customer.error);
      const occurredAt = parseTimestamp(get('occurredAt'), importOptions.zone, importOptions.dateOrder);
      if ('error' in occurredAt) errors.push(`${o.map.occurredAt}: ${occurredAt.error}`);
      const orderId = get('orderId');
      let eventId = get('eventId') || (orderId ? `csv:${type}:${orderId}` : '');
      if (type === 'customer' && eventId === '' && 'ok' in customer && 'ok' in occurredAt) eventId = `csv:customer:${customer.ok}:${occurredAt.ok}`;
      if (eventId === '') errors.push(`${o.map.eventId ?? o.map.orderId}: is empty (the event id is made from it)`);
      const event: Record<string, string> = { type, eventId };
      if (type !== 'customer') {
        const amount = parseAmount(get('amount'), importOptions.decimal);
        if ('error' in amount) errors.push(`${o.map.amount}: ${amount.error}`);
        // Shop systems write refunds as negative amounts as often as positive ones.
        else event.amount = type === 'refund' ? amount.ok.replace(/^-/, '') : amount.ok;
        // An orders export read as refunds has a refund column that is 0 on most rows: no refund.
        if (type === 'refund' && event.amount !== undefined && !positive(event.amount)) return { skipped: 'refund of 0' };
        event.currency = (get('currency') || o.currency || '').toUpperCase();
        if (orderId) event.orderId = orderId;
        else if (type === 'refund') errors.push(`${o.map.orderId ?? 'orderId'}: a refund needs the order it refunds (map orderId)`);
      }
      if (errors.length > 0 || 'error' in customer || 'error' in occurredAt) return { rejected: errors, eventId: eventId || null };
      event.customerId = customer.ok;
      event.occurredAt = occurredAt.ok;
      const optional: Record<ImportedType, MapField[]> = { purchase: ['channel'], refund: ['reason'], customer: ['country', 'channel', 'segment'] };
      for (const f of optional[type]) {
        const v = get(f);
        if (v !== '') event[f] = f === 'country' ? v.toUpperCase() : v;
      }
      return { events: [event as ImportedEvent] };
    },
  };
}
