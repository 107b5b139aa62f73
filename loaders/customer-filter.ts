import { Params, T } from './sql.js';
import { referredCustomersSql } from './referral.sql.js';

export interface CustomerFilterArgs {
  country?: string[] | null;
  channel?: string[] | null;
  segment?: string[] | null;
  referred?: boolean | null;
}

/** Profile attributes a filter may name, and their place in the latest-version tuple: a closed list. */
const ATTRIBUTES = { country: 1, channel: 2, segment: 3 } as const;

export function isEmptyFilter(f: CustomerFilterArgs | null | undefined): boolean {
  return !f || (f.country == null && f.channel == null && f.segment == null && f.referred == null);
}

/**
 * `customer_id IN (...)` for the customers a filter selects as of `asOf` (a placeholder),
 * or null when the filter selects everyone. Attributes come from each customer's latest
 * profile version; a customer without a value for a filtered attribute is excluded.
 */
export function customerFilterSql(f: CustomerFilterArgs | null | undefined, asOf: string, p: Params, column = 'customer_id'): string | null {
  if (!f || isEmptyFilter(f)) return null;
  const parts: string[] = [];
  const conditions: string[] = [];
  for (const [arg, position] of Object.entries(ATTRIBUTES) as [keyof typeof ATTRIBUTES, number][]) {
    const values = f[arg];
    if (values == null) continue;
    conditions.push(`has(${p.add('Array(String)', values)}, latest.${position})`);
  }
  if (conditions.length > 0) {
    // argMax over a tuple: a plain argMax would skip NULLs and resurrect an attribute the latest version dropped.
    parts.push(
      `${column} IN (SELECT customer_id FROM (SELECT customer_id, argMax(tuple(country, channel, segment), (occurred_at, received_seq)) AS latest ` +
        `FROM ${T.customers} WHERE occurred_at <= ${asOf} GROUP BY customer_id) WHERE ${conditions.join(' AND ')})`,
    );
  }
  if (f.referred != null) {
    parts.push(`${column} ${f.referred ? 'IN' : 'NOT IN'} (${referredCustomersSql(asOf, p)})`);
  }
  return parts.join(' AND ');
}
