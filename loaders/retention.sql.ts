import type { SqlQuery } from '../server/storage/executor.js';
import { customerStateSql, MARKER, stateColumn, statePeriods, type StateUnit } from './activity.sql.js';
import { keyAggregate, type Breakdown } from './breakdown.sql.js';
import type { CustomerFilterArgs } from './customer-filter.js';
import { Grain } from './grain.js';
import { cohortFragments, type CohortArgs } from './cohort.sql.js';
import { ordersSql, within } from './refunds.sql.js';
import { Params, type Source } from './sql.js';

/**
 * Per group key (breakdown.sql.ts; NULL for all without a breakdown) and cohort: the period starts of offsets 0..periods+1 (the last one ends the final cell)
 * and, per offset, customers active in it (`retained`) and customers whose last active
 * period is that offset (`last`, capped at `periods`: later activity still counts as "or later").
 */
export function retentionCohortsSql(a: CohortArgs, source: Source = 'auto'): SqlQuery {
  const p = new Params(source);
  const f = cohortFragments(a, p);
  const periods = p.add('Int32', a.periods, 'periods');
  const hist = f.unit ? stateHistogram(a.grain, f.unit, f, periods) : rawHistogram(f, periods);
  return p.sql(`
    WITH hist AS (${hist})
    SELECT key, c,
      arrayMap(k -> toString(${f.startOf('toInt32(c + k)')}), range(0, ${periods} + 2)) AS starts,
      arraySort(groupArray((k, retained, last))) AS cells
    FROM hist GROUP BY key, c ORDER BY key, c`);
}

type Fragments = ReturnType<typeof cohortFragments>;

/**
 * One row per member of the cohorts (`key`, `customer_id`, cohort `c`) with the periods they
 * bought in, in the shape its source reads fastest (the state's up to offset `periods`), and `activeAt(k)`,
 * whether a row's customer bought in the period at offset k. The histogram of
 * retentionCohorts counts these rows and cohortCustomers lists them: both read one definition
 * of who is in a cohort and who is active at an offset.
 */
function cohortMembers(grain: Grain, f: Fragments, periods: string): { rows: string; activeAt: (k: string) => string } {
  return f.unit ? stateMembers(grain, f.unit, f, periods) : rawMembers(f);
}

/** From raw orders: `offs`, the customer's distinct offsets (any, the histogram keeps those up to `periods`). */
function rawMembers(f: Fragments) {
  const rows = `
    WITH members AS (${f.keyed(f.members)})
    SELECT m.key AS key, pu.customer_id AS customer_id, m.c AS c, groupUniqArray(toInt32(${f.idx('pu.occurred_at')} - m.c)) AS offs
    FROM (${ordersSql(f.asOf, f.source, 'customer_id IN (SELECT customer_id FROM members)')}) AS pu INNER JOIN members AS m ON pu.customer_id = m.customer_id
    GROUP BY pu.customer_id, m.c, m.key`;
  return { rows, activeAt: (k: string) => `has(offs, toInt32(${k}))` };
}

/**
 * From the state: `xs`, the customer's distinct period indexes up to offset `periods`, and
 * `last_mark`, the marker value MARKER + (last active offset, capped at `periods`), so that a
 * plain UInt16 array carries both without tuples. The key joins the cohorts' customers only,
 * after the cohort filter.
 */
function stateMembers(grain: Grain, unit: StateUnit, f: Fragments, periods: string) {
  const period = statePeriods(grain, unit, f.zone);
  const rows = f.keyed(`
      SELECT customer_id, ${period.of('first_unit')} AS c, ${period.distinct('x', (i) => `toInt32(${i}) - c <= ${periods}`)} AS xs,
        toUInt16(${MARKER} + least(${period.of('last_unit')} - c, ${periods})) AS last_mark
      FROM (${customerStateSql(stateColumn(unit), f.asOf, f.filter)})
      WHERE ${f.inCohorts('c')}`);
  return { rows, activeAt: (k: string) => `has(xs, toInt32(c + ${k}))` };
}

/** Per (key, cohort, offset): customers active in it, and customers whose last active offset it is (capped at `periods`). */
function rawHistogram(f: Fragments, periods: string): string {
  return `
    SELECT key, c, t.1 AS k, countIf(t.2 = 0) AS retained, countIf(t.2 = 1) AS last
    FROM (${rawMembers(f).rows})
    ARRAY JOIN arrayConcat(
      arrayMap(o -> (o, 0), arrayFilter(o -> o <= ${periods}, offs)),
      [(least(arrayMax(offs), ${periods}), 1)]) AS t
    GROUP BY key, c, k`;
}

/** The same histogram from the state, one pass: each member's periods plus their `last_mark` in one ARRAY JOIN. */
function stateHistogram(grain: Grain, unit: StateUnit, f: Fragments, periods: string): string {
  const LAST = MARKER;
  return `
    SELECT key, c, if(v >= ${LAST}, toInt32(v) - ${LAST}, toInt32(v) - c) AS k, countIf(v < ${LAST}) AS retained, countIf(v >= ${LAST}) AS last
    FROM (${stateMembers(grain, unit, f, periods).rows})
    ARRAY JOIN arrayPushBack(xs, last_mark) AS v
    GROUP BY key, c, k`;
}

export interface CohortCellArgs {
  grain: Grain;
  /** The start of the cohort's period (retentionCohorts' cohortStart). */
  cohortStart: Date;
  offset: number;
  /** true: the cell's retained customers; false: the cohort's others; null: the whole cohort. */
  retained: boolean | null;
  asOf: Date;
  timezone: string;
  filter?: CustomerFilterArgs | null;
}

/**
 * The customer ids of one cell of retentionCohorts, ascending, after `after` (keyset
 * pagination), at most `limit` (all of them for an export). The cohort is the one whose period starts at cohortStart: the
 * window [cohortStart, cohortStart + 1 ms) holds that start only. A cell whose period starts
 * after asOf does not exist (retentionCohorts omits it), so it lists no one.
 */
export function cohortCustomersSql(a: CohortCellArgs & { after: string | null; limit: number | null }, source: Source = 'auto'): SqlQuery {
  const p = new Params(source);
  const f = cohortFragments({ ...a, from: a.cohortStart, to: new Date(a.cohortStart.getTime() + 1), periods: a.offset }, p);
  const offset = p.add('Int32', a.offset, 'offset');
  const members = cohortMembers(a.grain, f, offset);
  const where = [`${f.startOf(`toInt32(c + ${offset})`)} <= ${f.asOf}`];
  if (a.retained !== null) where.push(`${members.activeAt(offset)} = ${p.add('Bool', a.retained, 'retained')}`);
  if (a.after !== null) where.push(`customer_id > ${p.add('String', a.after, 'after')}`);
  return p.sql(`
    SELECT customer_id FROM (${members.rows})
    WHERE ${where.join(' AND ')}
    ORDER BY customer_id${a.limit === null ? '' : ` LIMIT ${p.add('UInt32', a.limit, 'limit')}`}`);
}

export interface PeriodRetentionArgs {
  grain: Grain;
  from: Date;
  to: Date;
  asOf: Date;
  timezone: string;
  filter?: CustomerFilterArgs | null;
  by?: Breakdown | null;
}

/**
 * Shortest length of a period of each grain in ms, two hours less for daylight-saving and
 * other offset changes.
 */
const SHORTEST_PERIOD_MS: Record<Grain, number> = {
  [Grain.DAY]: 22 * 3_600_000,
  [Grain.WEEK]: (7 * 24 - 2) * 3_600_000,
  [Grain.MONTH]: (28 * 24 - 2) * 3_600_000,
  [Grain.QUARTER]: (90 * 24 - 2) * 3_600_000,
  [Grain.YEAR]: (365 * 24 - 2) * 3_600_000,
};

/**
 * At least as many periods of `grain` as start in [from, to) in any time zone: one more than
 * fit in the span, and one more for a calendar date a zone skipped (Pacific/Apia, 2011-12-30).
 */
export function maxPeriodsIn(grain: Grain, from: Date, to: Date): number {
  return to <= from ? 0 : Math.floor((to.getTime() - from.getTime()) / SHORTEST_PERIOD_MS[grain]) + 2;
}

/**
 * Up to 63 periods, each customer's periods lo-1 .. hi-1 fit one 64-bit mask (OR drops the
 * repeats; bit b is period lo-1+b), and retention is bit arithmetic, faster than sorting the
 * periods (docs/performance.md). Should the bound in TypeScript be wrong, throwIf stops the query rather than shift bits out of the mask.
 */
const MASK = `arrayReduce('groupBitOr', arrayMap(i -> bitShiftLeft(toUInt64(1), toUInt8(i - (lo - 1))),
  arrayFilter(i -> i >= lo - 1 AND i < hi, arr))) AS mask`;
const MASK_GUARD = `NOT throwIf(hi - lo > 63, 'retention window wider than one mask')`;

/**
 * Per group key and period P in [lo, hi): customers active in P-1 (`previous`) and, of those, in P
 * (`retained`), from `activity`'s per-customer arrays `arr` of period indexes (repeats allowed):
 * by the mask when it fits, otherwise from each customer's sorted, deduplicated periods and
 * their successors (has() on the ARRAY JOINed rows copied the customer's array into every
 * row, and has() per period costs more than one sort).
 */
function retentionCounts(maskFits: boolean): string {
  if (maskFits) {
    return `
      SELECT key, toInt32(lo + b) AS period, count() AS previous, sum(bitTest(mask, b + 1)) AS retained
      FROM (SELECT key, ${MASK} FROM activity)
      ARRAY JOIN bitPositionsToArray(mask) AS b
      WHERE lo + b < hi AND ${MASK_GUARD}
      GROUP BY key, period`;
  }
  return `
      SELECT key, toInt32(i + 1) AS period, count() AS previous, sum(kept) AS retained
      FROM (
        SELECT key, arraySort(arrayDistinct(arrayFilter(i -> i >= lo - 1 AND i < hi, arr))) AS sorted,
          arrayMap((i, j) -> j = i + 1, sorted, arrayConcat(arrayPopFront(sorted), arraySlice(sorted, -1))) AS next
        FROM activity
      )
      ARRAY JOIN sorted AS i, next AS kept
      WHERE i + 1 >= lo AND i + 1 < hi
      GROUP BY key, period`;
}

/**
 * What both period retention queries start from: the bound parameters, `lo` and `hi` (the
 * index range of periods starting in [from, to)), `activity` (per customer, `arr`: their
 * period indexes from the period before lo on, and their group `key`) and whether the mask fits.
 */
function retentionInputs(a: PeriodRetentionArgs, source: Source) {
  const p = new Params(source);
  const f = cohortFragments({ ...a, periods: 0 }, p);
  const activity = f.keyed(
    f.unit
      ? `SELECT customer_id, ${statePeriods(a.grain, f.unit, f.zone).all('x')} AS arr FROM (${customerStateSql(stateColumn(f.unit), f.asOf, f.filter)})`
      : `
      SELECT customer_id, groupUniqArray(${f.idx('occurred_at')}) AS arr
      FROM (${ordersSql(f.asOf, source, undefined, within(f.startOf('toInt32(lo - 1)'), f.startOf('toInt32(hi)')))})
      ${f.filter ? `WHERE ${f.filter}` : ''}
      GROUP BY customer_id`,
  );
  const head = `WITH ${f.ceilIdx(f.from)} AS lo, ${f.ceilIdx(f.to)} AS hi, activity AS (${activity})`;
  return { p, f, head, maskFits: maxPeriodsIn(a.grain, a.from, a.to) <= 63 };
}

/**
 * For each period P starting in [from, to): customers active in P-1 and, of those, active
 * in P. Only purchases from the start of the period before the first P are read. One row per
 * group key: `starts`, the starts of the periods, and `counts`, (period number from 0,
 * previous, retained) for the periods with previous customers. Without a breakdown the one
 * row comes even when no period has any (keyAggregate), so the periods are known.
 */
export function periodRetentionSql(a: PeriodRetentionArgs, source: Source = 'auto'): SqlQuery {
  const { p, f, head, maskFits } = retentionInputs(a, source);
  const g = keyAggregate(a.by);
  return p.sql(`
    ${head},
    counts AS (${retentionCounts(maskFits)})
    SELECT ${g.key}, arrayMap(n -> toString(${f.startOf('toInt32(n)')}), range(lo, greatest(lo, hi))) AS starts,
      arraySort(groupArray((toUInt32(period - lo), previous, retained))) AS counts
    FROM counts ${g.groupBy}`);
}

/**
 * The same counts summed over the periods, one row `key, previous, retained` (per group key
 * with a breakdown): what the pooled rate
 * (CLV's churn, kpiSnapshot's retention rate) needs. With the mask, each customer's share is
 * a bit count of the mask's low hi-lo bits (previous) and of those followed by a set bit
 * (retained), without a row per period.
 */
export function pooledRetentionSql(a: PeriodRetentionArgs, source: Source = 'auto'): SqlQuery {
  const { p, head, maskFits } = retentionInputs(a, source);
  const g = keyAggregate(a.by);
  const low = 'bitShiftLeft(toUInt64(1), greatest(hi - lo, 0)) - 1';
  const totals = maskFits
    ? `SELECT ${g.key}, sum(bitCount(bitAnd(mask, ${low}))) AS previous, sum(bitCount(bitAnd(bitAnd(mask, bitShiftRight(mask, 1)), ${low}))) AS retained
       FROM (SELECT key, ${MASK} FROM activity) WHERE ${MASK_GUARD} ${g.groupBy}`
    : `SELECT ${g.key}, sum(previous) AS previous, sum(retained) AS retained FROM (${retentionCounts(false)}) ${g.groupBy}`;
  return p.sql(`${head} ${totals}`);
}
