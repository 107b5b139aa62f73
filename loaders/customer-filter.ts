import { BadInputError } from './errors.js';
import { ISO_3166_ALPHA2, MAX_ID_LENGTH, MAX_TIER_LENGTH } from './event-codes.js';
import { loyaltyMembersSql, loyaltyTiersSql } from './loyalty.sql.js';
import { Params, T } from './sql.js';
import { referredCustomersSql } from './referral.sql.js';
import { npsGroupKey, npsGroupsSql, type NpsGroup } from './survey-bands.sql.js';

export interface CustomerFilterArgs {
  country?: string[] | null;
  channel?: string[] | null;
  segment?: string[] | null;
  referred?: boolean | null;
  /** Members as of asOf (true) or the others (false), spec section 14. */
  loyaltyMember?: boolean | null;
  /** Members whose tier as of asOf is one of these. */
  loyaltyTier?: string[] | null;
  npsGroup?: NpsGroup[] | null;
}

/** Profile attributes a filter may name, and their place in the latest-version tuple: a closed list. */
export const ATTRIBUTES = { country: 1, channel: 2, segment: 3 } as const;
export type Attribute = keyof typeof ATTRIBUTES;
export const ATTRIBUTE_NAMES = Object.keys(ATTRIBUTES) as Attribute[];

export function isEmptyFilter(f: CustomerFilterArgs | null | undefined): boolean {
  return (
    !f ||
    (f.country == null && f.channel == null && f.segment == null && f.referred == null && f.npsGroup == null && f.loyaltyMember == null && f.loyaltyTier == null)
  );
}

const attributeValue = { ok: (v: string) => v.length > 0 && [...v].length <= MAX_ID_LENGTH, rule: `1 to ${MAX_ID_LENGTH} characters long` };
const VALUE_RULES: Record<Attribute, { ok(v: string): boolean; rule: string }> = {
  country: { ok: (v) => ISO_3166_ALPHA2.has(v), rule: 'ISO 3166-1 alpha-2 codes in upper case, such as "DE"' },
  channel: attributeValue,
  segment: attributeValue,
};

/**
 * Filter values are validated like the event fields they match (spec section 2): a value no
 * event could carry, or an empty list, would silently select nobody.
 */
export function checkCustomerFilter<F extends CustomerFilterArgs>(f: F | null | undefined): F | null {
  if (!f) return null;
  for (const attribute of ATTRIBUTE_NAMES) {
    const values = f[attribute];
    if (values == null) continue;
    const field = `filter.${attribute}`;
    if (values.length === 0) throw new BadInputError(`"${field}" is an empty list, which selects no customer; leave it out to select every customer`, field);
    const bad = values.find((v) => !VALUE_RULES[attribute].ok(v));
    if (bad !== undefined) throw new BadInputError(`"${field}" values must be ${VALUE_RULES[attribute].rule} (got ${JSON.stringify(bad)})`, field);
  }
  const tiers = f.loyaltyTier;
  if (tiers != null) {
    const field = 'filter.loyaltyTier';
    if (tiers.length === 0) throw new BadInputError(`"${field}" is an empty list, which selects no customer; leave it out to select every customer`, field);
    const bad = tiers.find((v) => v.length === 0 || [...v].length > MAX_TIER_LENGTH);
    if (bad !== undefined) throw new BadInputError(`"${field}" values must be 1 to ${MAX_TIER_LENGTH} characters long (got ${JSON.stringify(bad)})`, field);
  }
  if (f.npsGroup != null && f.npsGroup.length === 0) {
    throw new BadInputError('"filter.npsGroup" is an empty list, which selects no customer; leave it out to select every customer', 'filter.npsGroup');
  }
  return f;
}

/**
 * Each customer's latest profile version as of `asOf` (a placeholder), of those for which `only`
 * holds (a condition on customer_id): `customer_id` and `latest`, the tuple (country, channel,
 * segment) indexed by ATTRIBUTES, whole: a NULL in the latest version stays NULL rather than
 * resurrecting an older value. The latest version is the last row of its customer in the
 * table's order (customer_id, occurred_at, received_seq), so the table is read backwards in
 * that order and the first row per customer kept; argMax over the tuple cost ten times as much
 * (docs/performance.md).
 */
export function latestProfilesSql(asOf: string, only = 'true'): string {
  return (
    `SELECT customer_id, tuple(country, channel, segment) AS latest FROM ${T.customers} ` +
    `WHERE occurred_at <= ${asOf} AND ${only} ORDER BY customer_id DESC, occurred_at DESC, received_seq DESC LIMIT 1 BY customer_id`
  );
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
  for (const [arg, position] of Object.entries(ATTRIBUTES) as [Attribute, number][]) {
    const values = f[arg];
    if (values == null) continue;
    conditions.push(`has(${p.add('Array(String)', values)}, latest.${position})`);
  }
  if (conditions.length > 0) {
    parts.push(`${column} IN (SELECT customer_id FROM (${latestProfilesSql(asOf)}) WHERE ${conditions.join(' AND ')})`);
  }
  if (f.referred != null) {
    parts.push(`${column} ${f.referred ? 'IN' : 'NOT IN'} (${referredCustomersSql(asOf, p)})`);
  }
  if (f.loyaltyMember != null) {
    parts.push(`${column} ${f.loyaltyMember ? 'IN' : 'NOT IN'} (${loyaltyMembersSql(asOf)})`);
  }
  if (f.loyaltyTier != null) {
    parts.push(`${column} IN (SELECT customer_id FROM (${loyaltyTiersSql(asOf)}) WHERE has(${p.add('Array(String)', f.loyaltyTier)}, tier))`);
  }
  if (f.npsGroup != null) {
    // The latest NPS response as of asOf (survey-bands.sql.ts); customers without one have no group.
    const groups = p.add('Array(String)', f.npsGroup.map(npsGroupKey));
    parts.push(`${column} IN (SELECT customer_id FROM (${npsGroupsSql(asOf)}) WHERE has(${groups}, nps_group))`);
  }
  return parts.join(' AND ');
}
