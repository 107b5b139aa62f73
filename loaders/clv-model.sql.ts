import type { SqlQuery } from '../server/storage/executor.js';
import type { BgNbdParams } from '../server/clv-model/bgnbd.js';
import { netOrdersSql, ordersSql } from './refunds.sql.js';
import { Params } from './sql.js';

/** Which purchases make up the calibration (occurred_at <= calibrationEnd) and the optional holdout. */
export interface RfmScope {
  calibrationEnd: Date;
  /** Holdout = (calibrationEnd, holdoutEnd]; null for none. */
  holdoutEnd: Date | null;
  currency: string;
}

/**
 * One row per customer: the calibration summary in whole UTC days, as the CDNOW summary counts
 * them (recency = last − first purchase day, T = calibration-end day − first purchase day), and
 * the distinct holdout purchase days. Purchases of one day are one purchase with the summed
 * amount; a day that straddles calibrationEnd counts on both sides, because membership is by
 * instant while the unit of purchase is the day. Customers without a calibration purchase are
 * left out (new in the holdout, or never bought in this currency).
 *
 * Orders, not purchases (spec section 12): cancelled orders are left out and each order's
 * amount is net of its refunds, both as of calibrationEnd; the holdout's orders are those not
 * cancelled as of holdoutEnd (refunds.sql.ts).
 *
 * One GROUP BY customer_id over the customer's (day, amount) pairs rather than a GROUP BY
 * (customer, day) first: read in the table's customer order it streams, where the per-day
 * grouping needs a hash table as large as the purchases (slower; docs/performance.md). Arrays
 * also beat uniqExact, whose per-customer hash sets cost more than the scan.
 */
function customerSummaries(p: Params, s: RfmScope, ids?: readonly string[]): string {
  const calEnd = p.time(s.calibrationEnd, 'calibrationEnd');
  const end = s.holdoutEnd ? p.time(s.holdoutEnd, 'holdoutEnd') : calEnd;
  const currency = p.add('String', s.currency, 'currency');
  const only = ids ? `AND customer_id IN ${p.add('Array(String)', ids, 'ids')}` : '';
  return `
    SELECT customer_id,
      groupArrayIf((toDate(occurred_at), amount), occurred_at <= ${calEnd}) AS calibration,
      arrayMin(x -> x.1, calibration) AS first_day,
      length(arrayDistinct(arrayMap(x -> x.1, calibration))) - 1 AS frequency,
      toInt32(arrayMax(x -> x.1, calibration) - first_day) AS recency_days,
      toInt32(toDate(${calEnd}) - first_day) AS t_days,
      toUInt32(length(arrayDistinct(groupArrayIf(toDate(occurred_at), occurred_at > ${calEnd})))) AS holdout_days,
      arraySum(x -> x.2, calibration) AS revenue,
      if(frequency > 0, toFloat64(revenue - arraySum(x -> if(x.1 = first_day, x.2, 0), calibration)) / frequency, 0) AS monetary,
      length(calibration) AS orders,
      maxIf(occurred_at, occurred_at <= ${calEnd}) AS last_at
    FROM (
      SELECT customer_id, occurred_at, amount, currency FROM (${netOrdersSql(calEnd, 'auto')})
      ${s.holdoutEnd ? `UNION ALL SELECT customer_id, occurred_at, amount, currency FROM (${ordersSql(end, 'auto')}) WHERE occurred_at > ${calEnd}` : ''}
    )
    WHERE currency = ${currency} ${only}
    GROUP BY customer_id
    HAVING orders > 0`;
}

/**
 * What the fits need, in one scan and already collapsed, one row per calibration frequency:
 * `tuples` = [recency, T, holdout days, customers] per unique summary in whole days (BG/NBD and
 * the backtest), `spend` = [spend, customers] of the repeat customers (Gamma-Gamma), spend being
 * the monetary value rounded to 4 significant digits (at most 0.005 % off, whatever the
 * currency): a million repeat customers have nearly as many distinct means, which would make
 * the transfer and every likelihood evaluation a million terms long. Customers without a
 * positive repeat spend are not in `spend` (Gamma-Gamma has no density at 0). Arrays rather
 * than a row per group: at a million customers the JSON of row objects costs more than the scan.
 */
export function rfmTuplesSql(s: RfmScope): SqlQuery {
  const p = new Params();
  return p.sql(`
    SELECT frequency,
           groupArrayIf((recency_days, t_days, holdout_days, n), NOT spend_row) AS tuples,
           groupArrayIf((spend, n), spend_row AND spend > 0) AS spend
    FROM (
      SELECT grouping(spend) = 0 AS spend_row, frequency, recency_days, t_days, holdout_days, spend, count() AS n
      FROM (
        SELECT frequency, recency_days, t_days, holdout_days,
               if(frequency > 0 AND monetary > 0, round(monetary / exp10(floor(log10(monetary)) - 3)) * exp10(floor(log10(monetary)) - 3), 0) AS spend
        FROM (${customerSummaries(p, s)})
      )
      GROUP BY GROUPING SETS ((frequency, recency_days, t_days, holdout_days), (frequency, spend))
    )
    GROUP BY frequency`);
}

/** The calibration summaries of the given customers (the DataLoader's batch). */
export function customerRfmSql(s: Omit<RfmScope, 'holdoutEnd'>, ids: readonly string[]): SqlQuery {
  const p = new Params();
  return p.sql(`
    SELECT customer_id, frequency, recency_days, t_days, monetary
    FROM (${customerSummaries(p, { ...s, holdoutEnd: null }, ids)})`);
}

export interface AtRiskArgs {
  calibrationEnd: Date;
  currency: string;
  first: number;
  minHistoricalValue: number;
  maxProbabilityAlive: number;
}

/**
 * Repeat customers with revenue >= minHistoricalValue and P(alive) < maxProbabilityAlive, by
 * revenue at risk = revenue × (1 − P(alive)). P(alive) is BG/NBD's closed form with the
 * parameters fitted in weeks, the same formula as `probabilityAlive`.
 */
export function atRiskSql(a: AtRiskArgs, params: BgNbdParams): SqlQuery {
  const p = new Params();
  const summaries = customerSummaries(p, { calibrationEnd: a.calibrationEnd, holdoutEnd: null, currency: a.currency });
  const [r, alpha, am, b] = [params.r, params.alpha, params.a, params.b].map((v, i) => p.add('Float64', v, `m${i}`));
  return p.sql(`
    SELECT customer_id, frequency, recency_days, t_days, toString(revenue) AS revenue, orders, toString(last_at) AS last_at,
           1 / (1 + (${am} / (${b} + frequency - 1)) * pow((${alpha} + t_days / 7) / (${alpha} + recency_days / 7), ${r} + frequency)) AS p_alive,
           toFloat64(revenue) * (1 - p_alive) AS value_at_risk,
           count() OVER () AS total
    FROM (${summaries})
    WHERE frequency > 0 AND toFloat64(revenue) >= ${p.add('Float64', a.minHistoricalValue, 'minValue')} AND p_alive < ${p.add('Float64', a.maxProbabilityAlive, 'maxAlive')}
    ORDER BY value_at_risk DESC, customer_id
    LIMIT ${p.add('UInt32', a.first, 'first')}`);
}
