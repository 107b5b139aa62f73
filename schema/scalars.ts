import { GraphQLError, GraphQLScalarType, Kind } from 'graphql';

const WITH_ZONE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;

/** Parses an ISO-8601 instant that names its zone; null when it does not (or is no real date). */
export function parseInstant(text: string): Date | null {
  const m = WITH_ZONE.exec(text);
  if (!m) return null;
  const [, y, mo, d, h, mi] = m.map(Number) as number[];
  if (mo! < 1 || mo! > 12 || d! < 1 || d! > new Date(Date.UTC(y!, mo!, 0)).getUTCDate() || h! > 23 || mi! > 59) return null;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? null : new Date(ms);
}

function toDate(value: unknown): Date {
  if (typeof value === 'string') {
    const d = parseInstant(value);
    if (d) return d;
  }
  throw new GraphQLError(
    `DateTime must be an ISO-8601 string with a zone, e.g. "2024-03-01T00:00:00Z" or "2024-03-01T09:30:00+02:00" (got ${JSON.stringify(value)})`,
    { extensions: { code: 'BAD_USER_INPUT' } },
  );
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
  parseValue: toDate,
  parseLiteral(ast) {
    if (ast.kind !== Kind.STRING) return toDate(undefined);
    return toDate(ast.value);
  },
});

/**
 * Money as an exact decimal. Input takes a string or a number and is kept as the text
 * written, so validation can count its decimals and nothing is rounded through a double.
 */
export const DecimalScalar = new GraphQLScalarType<string, string>({
  name: 'Decimal',
  description: 'An exact decimal number, given as a string ("12.50") or a number (12.5).',
  serialize(value) {
    return String(value);
  },
  parseValue(value) {
    if (typeof value === 'string' || typeof value === 'number') return String(value);
    throw new GraphQLError(`Decimal must be a string or a number (got ${JSON.stringify(value)})`, {
      extensions: { code: 'BAD_USER_INPUT' },
    });
  },
  parseLiteral(ast) {
    if (ast.kind === Kind.STRING || ast.kind === Kind.INT || ast.kind === Kind.FLOAT) return ast.value;
    throw new GraphQLError('Decimal must be a string or a number', { extensions: { code: 'BAD_USER_INPUT' } });
  },
});
