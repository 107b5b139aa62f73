// What every import source shares: the events it makes, the outcome of one export row, the
// options that shape values, and the header check. docs/importing.md describes the sources.
import { InputError } from '../event-files.js';
import { emailCustomerId, emailOf, HMAC_KEY_VARIABLE, holdsEmail, looksLikeEmail, type DateOrder, type DecimalMark, type Parsed } from './values.js';

export type ImportedType = 'purchase' | 'refund' | 'customer';

/** An event as sent: every field a string (amounts as decimal strings), absent fields left out. */
export interface ImportedEvent {
  type: ImportedType;
  eventId: string;
  occurredAt: string;
  [field: string]: string;
}

/**
 * One export row: the events it makes; skipped on purpose (a failed, test or unpaid payment:
 * `reason` is the summary's category); rejected (it cannot be read: `errors` say why, never
 * quoting an e-mail address); or a further line item of an order already made from its first row.
 */
export type RowOutcome =
  | { events: ImportedEvent[] }
  | { skipped: string }
  | { rejected: string[]; eventId: string | null }
  | { lineItem: true };

export interface RowMapper {
  map(cells: string[]): RowOutcome;
}

export interface ImportOptions {
  /** IMPORT_HMAC_KEY, read when a row names its customer only by e-mail. */
  hmacKey: string | undefined;
  /** The zone of timestamps written without one (--tz). */
  zone: string | undefined;
  dateOrder: DateOrder;
  decimal: DecimalMark;
}

/** The column indexes of `wanted` (export column names) in `header`; a missing required column refuses the file, listing the header. */
export function columns<R extends string, O extends string>(
  source: string,
  file: string,
  header: string[],
  required: readonly R[],
  optional: readonly O[],
): Record<R, number> & Record<O, number | undefined> {
  const trimmed = header.map((h) => h.trim());
  const missing = required.filter((c) => !trimmed.includes(c));
  if (missing.length > 0) {
    throw new InputError(
      `${file}: not a ${source} export: the header has no ${missing.map((c) => JSON.stringify(c)).join(', ')} column${missing.length > 1 ? 's' : ''} ` +
        `(columns: ${trimmed.join(', ') || 'none'})`,
    );
  }
  const at: Record<string, number | undefined> = {};
  for (const c of [...required, ...optional]) {
    const i = trimmed.indexOf(c);
    at[c] = i < 0 ? undefined : i;
  }
  return at as Record<R, number> & Record<O, number | undefined>;
}

/** The cell at `i`, trimmed; '' for a missing column or a short row. */
export function cell(cells: string[], i: number | undefined): string {
  return i === undefined ? '' : (cells[i] ?? '').trim();
}

/**
 * A row's customerId: the value of its id column (`id`), or, when that is empty, the keyed hash
 * of its e-mail column (`email`); `none` says why a row with neither names no customer. An id
 * that is itself an e-mail address (bare, or `Name <address>`) is hashed the same way, and one
 * that holds an address among other text is refused: the importer never sends an address,
 * whatever column holds it.
 */
export function customerOf(options: ImportOptions, id: { value: string; column: string }, email: { value: string; column: string } | undefined, none: string): Parsed<string> {
  if (id.value !== '') {
    const address = emailOf(id.value);
    if (address !== undefined) return customerFromEmail(options, address, id.column);
    if (holdsEmail(id.value)) return { error: `${id.column}: holds an e-mail address among other text (the value is not shown: it may be personal data)` };
    return { ok: id.value };
  }
  if (email !== undefined && email.value !== '') return customerFromEmail(options, email.value, email.column);
  return { error: none };
}

/** The customerId of a customer known only by e-mail (values.ts, emailCustomerId); the key is required from the first such row on. */
export function customerFromEmail(options: ImportOptions, email: string, column: string): Parsed<string> {
  if (!looksLikeEmail(email)) return { error: `${column}: not an e-mail address (the value is not shown: it may be personal data)` };
  if (options.hmacKey === undefined || options.hmacKey === '') {
    throw new InputError(
      `${HMAC_KEY_VARIABLE} is not set: this export names customers by e-mail address (column ${JSON.stringify(column)}), and the importer sends only a keyed hash of it. ` +
        `Set ${HMAC_KEY_VARIABLE} to a secret of at least 16 characters, the same for every import and every service that sends events (docs/importing.md).`,
    );
  }
  return { ok: emailCustomerId(options.hmacKey, email) };
}
