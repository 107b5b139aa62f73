import { GraphQLError, GraphQLScalarType, Kind, print, type ValueNode } from 'graphql';

const INSTANT = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|([+-])(\d{2}):(\d{2}))?$/;
const EXAMPLES = 'an ISO-8601 instant with a zone such as "2024-03-01T00:00:00Z" or "2024-03-01T09:30:00+02:00"';
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

/** An ISO-8601 instant that names its zone, or why the text is none (a calendar date, a time of day, a zone offset). */
function parseInstant(text: string): Date | string {
  const m = INSTANT.exec(text);
  if (!m) return `expected ${EXAMPLES}`;
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map((v) => Number(v ?? 0)) as [number, number, number, number, number, number];
  if (mo < 1 || mo > 12) return `there is no month ${m[2]}`;
  if (d < 1 || d > new Date(Date.UTC(y, mo, 0)).getUTCDate()) return `${MONTHS[mo - 1]} ${m[1]} has no day ${m[3]}`;
  if (h > 23 || mi > 59 || s > 59) return `${m[4]}:${m[5]}${m[6] ? `:${m[6]}` : ''} is no time of day (hours 00-23, minutes 00-59)`;
  if (!m[8]) return 'it names no zone; end it with "Z" or an offset such as "+02:00"';
  if (m[8] !== 'Z' && (Number(m[10]) > 23 || Number(m[11]) > 59)) return `${m[8]} is no zone offset (-23:59 to +23:59)`;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? `expected ${EXAMPLES}` : new Date(ms);
}

/**
 * The value as an instant, or an error saying why not. graphql-js prefixes a variable's error
 * with the variable's name; a literal's parser is not told its argument, so the error carries
 * the literal's node and with it its location.
 */
function toDate(value: unknown, shown: string, node?: ValueNode): Date {
  const parsed = typeof value === 'string' ? parseInstant(value) : `expected ${EXAMPLES}`;
  if (parsed instanceof Date) return parsed;
  throw new GraphQLError(`DateTime cannot represent ${shown}: ${parsed}`, { nodes: node, extensions: { code: 'BAD_USER_INPUT' } });
}

/** ISO-8601 in UTC with `Z` on the way out; any explicit zone accepted on the way in. */
export const DateTimeScalar = new GraphQLScalarType<Date, string>({
  name: 'DateTime',
  description: 'An instant as ISO-8601. Output is UTC with `Z`; input needs `Z` or an explicit offset.',
  serialize(value) {
    const d = value instanceof Date ? value : new Date(value as string);
    if (Number.isNaN(d.getTime())) throw new GraphQLError('DateTime cannot represent an invalid date');
    return d.toISOString();
  },
  parseValue: (value) => toDate(value, JSON.stringify(value) ?? String(value)),
  parseLiteral: (ast) => toDate(ast.kind === Kind.STRING ? ast.value : undefined, print(ast), ast),
});

/**
 * A Decimal given as a number: its text as written, so its decimals are counted the way an
 * NDJSON line's are (`1e3` is 1000 with none, `1.50` has two), not on a string's stricter form.
 */
export class NumberLiteral {
  constructor(readonly text: string) {}
}

/**
 * Money as an exact decimal. Input takes a string or a number and is kept as the text
 * written, so validation can count its decimals and nothing is rounded through a double.
 */
export const DecimalScalar = new GraphQLScalarType<string | NumberLiteral, string>({
  name: 'Decimal',
  description: 'An exact decimal number, given as a string ("12.50") or a number (12.5).',
  serialize(value) {
    return String(value);
  },
  parseValue(value) {
    if (typeof value === 'string') return value;
    // A variable's number arrives parsed: its shortest round-trip form is what was written.
    if (typeof value === 'number') return new NumberLiteral(String(value));
    throw new GraphQLError(`Decimal must be a string or a number (got ${JSON.stringify(value)})`, {
      extensions: { code: 'BAD_USER_INPUT' },
    });
  },
  parseLiteral(ast) {
    if (ast.kind === Kind.STRING) return ast.value;
    if (ast.kind === Kind.INT || ast.kind === Kind.FLOAT) return new NumberLiteral(ast.value);
    throw new GraphQLError('Decimal must be a string or a number', { extensions: { code: 'BAD_USER_INPUT' } });
  },
});
