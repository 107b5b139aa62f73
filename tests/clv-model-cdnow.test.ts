import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runClvModel, runCustomerRfm, TimeUnit } from '../loaders/clv-model.loader.js';
import { rfmTuplesSql } from '../loaders/clv-model.sql.js';
import { insertPurchases } from './helpers/events.js';
import { startTestService, type TestService } from './helpers/service.js';
import { expectedPurchasesReference } from './helpers/bgnbd-reference.js';
import { haveCdnow, readCdnowSample, readCdnowSummary } from './helpers/cdnow.js';


const ctx = { requestId: 'clv-model-test' };
// Dates are midnight UTC, so the last instant of the day keeps every purchase of 1997-09-30 in calibration.
const CALIBRATION_END = '1997-09-30T23:59:59.999Z';
const HOLDOUT_END = '1998-06-30T23:59:59.999Z';

function expectWithinRelative(actual: number, expected: number, tolerance: number): void {
  expect(Math.abs(actual - expected) / Math.abs(expected)).toBeLessThanOrEqual(tolerance);
}

let svc: TestService;
const counted = async (query: string, variables?: Record<string, unknown>) => {
  let n = 0;
  const stop = svc.exec.observe(() => n++);
  try {
    return { result: await svc.gql(query, variables), queries: n };
  } finally {
    stop();
  }
};

beforeAll(async () => {
  svc = await startTestService('t_clv_model_cdnow');
});
afterAll(async () => {
  await svc?.stop();
});

// Hand-made customers in EUR, kept apart from the CDNOW purchases (USD) by the currency filter.
// Calibration ends 2024-03-10T12:00:00Z, the holdout 2024-03-20T23:59:59Z.
describe('RFM summary in ClickHouse', () => {
  const scope = { calibrationEnd: new Date('2024-03-10T12:00:00Z'), currency: 'EUR' };
  const holdoutEnd = new Date('2024-03-20T23:59:59Z');

  beforeAll(async () => {
    await insertPurchases(svc.exec, [
      // h1: days 03-01 (10 + 5 merged), 03-04 (20), 03-10 exactly at calibration end (30); 03-15 twice in the holdout.
      ['h1', '2024-03-01T09:00:00Z', '10', 'EUR'], ['h1', '2024-03-01T18:00:00Z', '5', 'EUR'], ['h1', '2024-03-04T10:00:00Z', '20', 'EUR'],
      ['h1', '2024-03-10T12:00:00Z', '30', 'EUR'], ['h1', '2024-03-15T08:00:00Z', '7', 'EUR'], ['h1', '2024-03-15T20:00:00Z', '7', 'EUR'],
      // h2: one calibration day; holdout days 03-12 and 03-20 (one second before the holdout end).
      ['h2', '2024-03-05T23:59:59Z', '8', 'EUR'], ['h2', '2024-03-12T00:00:00Z', '1', 'EUR'], ['h2', '2024-03-20T23:59:58Z', '1', 'EUR'],
      // h3: first bought in the holdout: not a calibration customer.
      ['h3', '2024-03-11T00:00:00Z', '50', 'EUR'],
      // h4: 03-02 (10), 03-03 (4 + 6); 03-10 one millisecond after calibration end is holdout; 03-21 is after the holdout.
      ['h4', '2024-03-02T00:00:00Z', '10', 'EUR'], ['h4', '2024-03-03T01:00:00Z', '4', 'EUR'], ['h4', '2024-03-03T02:00:00Z', '6', 'EUR'],
      ['h4', '2024-03-10T12:00:00.001Z', '99', 'EUR'], ['h4', '2024-03-21T00:00:00Z', '99', 'EUR'],
      // h5: a USD purchase only, invisible in EUR.
      ['h5', '2024-03-01T00:00:00Z', '10', 'USD'],
    ]);
  });

  it('merges same-day purchases and counts whole UTC days up to the calibration end inclusive', async () => {
    const rows = await runCustomerRfm(svc.exec, ctx, scope, ['h1', 'h2', 'h3', 'h4', 'h5', 'h1']);
    expect(rows).toEqual([
      // recency 03-01 → 03-10 = 9 days; T = 9 days; monetary (20 + 30) / 2.
      { customer_id: 'h1', frequency: 2, recency_days: 9, t_days: 9, monetary: 25 },
      { customer_id: 'h2', frequency: 0, recency_days: 0, t_days: 5, monetary: 0 },
      null,
      // 03-02 → 03-03: recency 1, T 8, monetary = the merged 03-03 day (4 + 6).
      { customer_id: 'h4', frequency: 1, recency_days: 1, t_days: 8, monetary: 10 },
      null,
      { customer_id: 'h1', frequency: 2, recency_days: 9, t_days: 9, monetary: 25 },
    ]);
  });

  it('collapses customers into (recency, T, holdout days) and repeat spend groups per frequency in one scan', async () => {
    const rows = await svc.exec.rows<{ frequency: number }>(rfmTuplesSql({ ...scope, holdoutEnd }), ctx);
    expect(rows.sort((x, y) => x.frequency - y.frequency)).toEqual([
      { frequency: 0, tuples: [[0, 5, 2, 1]], spend: [] },
      // h4's 03-10 purchase after the calibration end is one holdout day; 03-21 is past the holdout.
      { frequency: 1, tuples: [[1, 8, 1, 1]], spend: [[10, 1]] },
      // h1's two 03-15 purchases are one holdout day.
      { frequency: 2, tuples: [[9, 9, 1, 1]], spend: [[25, 1]] },
    ]);
  });

  it('explains why a store without repeat purchases has no model', async () => {
    const { errors } = await svc.gql(`{ clvModel(calibrationEnd: "2024-03-02T23:59:59Z", currency: "EUR") { customers } }`);
    expect(errors[0].extensions.code).toBe('BAD_USER_INPUT');
    expect(errors[0].message).toMatch(/^No BG\/NBD model for EUR purchases up to 2024-03-02T23:59:59.000Z \(2 customers\): BG\/NBD needs at least one repeat purchase/);
  });

  it('refuses a holdout that does not reach a later day', async () => {
    const { errors } = await svc.gql(`{ clvModel(calibrationEnd: "2024-03-10T00:00:00Z", holdoutEnd: "2024-03-10T23:00:00Z") { customers } }`);
    expect(errors[0].message).toBe('"holdoutEnd" (2024-03-10T23:00:00.000Z) must fall on a later UTC day than "calibrationEnd" (2024-03-10T00:00:00.000Z)');
  });
});

describe.skipIf(!haveCdnow)('CDNOW sample through the service', () => {
  // [masterId, sampleId, yyyymmdd, cds, dollars]
  const lines = haveCdnow
    ? readCdnowSample()
        .split(/\r?\n/)
        .map((l) => l.trim().split(/\s+/))
        .filter((f) => f.length === 5)
    : [];
  const published = haveCdnow
    ? readCdnowSummary()
    : [];
  const masterOf = new Map(lines.map(([master, sample]) => [Number(sample), master!]));

  beforeAll(async () => {
    const body = lines
      .map(([master, , date, , dollars], i) =>
        JSON.stringify({
          type: 'purchase',
          eventId: `cdnow-${i}`,
          customerId: master,
          occurredAt: `${date!.slice(0, 4)}-${date!.slice(4, 6)}-${date!.slice(6, 8)}T00:00:00Z`,
          amount: dollars,
          currency: 'USD',
        }),
      )
      .join('\n');
    const res = await fetch(`${svc.url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ accepted: 6919, duplicates: 0, rejectedCount: 0, rejected: [] });
  });

  const MODEL = `query($holdoutEnd: DateTime) {
    clvModel(calibrationEnd: "${CALIBRATION_END}", holdoutEnd: $holdoutEnd, timeUnit: WEEK, currency: "USD") {
      customers uniqueSummaries
      bgnbd { r alpha a b logLikelihood }
      gammaGamma { p q v logLikelihood repeatCustomers }
      gammaGammaUnavailableReason
      backtest { holdoutLength relativeError total { customers actualMean predictedMean meanAbsoluteError }
                 buckets { label customers actualMean predictedMean meanAbsoluteError } }
    }
  }`;

  it('fits BG/NBD and Gamma-Gamma within 1% of the published CDNOW parameters', async () => {
    const { data, errors } = await svc.gql(MODEL);
    expect(errors).toBeUndefined();
    const m = data.clvModel;
    expect(m.customers).toBe(2357);
    const published = { r: 0.2426, alpha: 4.4137, a: 0.793, b: 2.4262 };
    for (const key of ['r', 'alpha', 'a', 'b'] as const) expectWithinRelative(m.bgnbd[key], published[key], 0.01);
    expect(m.bgnbd.logLikelihood).toBeCloseTo(-9582.4, 1);
    expect(m.gammaGamma.repeatCustomers).toBe(946);
    const spend = { p: 6.25, q: 3.74, v: 15.44 };
    for (const key of ['p', 'q', 'v'] as const) expectWithinRelative(m.gammaGamma[key], spend[key], 0.01);
    expect(m.gammaGammaUnavailableReason).toBeNull();
    expect(m.backtest).toBeNull();
  });

  it('reuses the fitted model until a purchase arrives', async () => {
    const again = await counted(MODEL);
    // Only the data-version probe runs; the fit comes from the process cache.
    expect(again.queries).toBe(1);
    const late = JSON.stringify({ type: 'purchase', eventId: 'late-1', customerId: 'late', occurredAt: '1999-01-01T00:00:00Z', amount: '1', currency: 'USD' });
    await fetch(`${svc.url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body: late });
    // The ingest log inserts the purchase behind the acknowledgement; a read waits for it, so
    // only the model's own statements are counted below.
    await svc.exec.rows({ query: 'SELECT 1', query_params: {} }, { requestId: 'applied' });
    const refit = await counted(MODEL);
    expect(refit.queries).toBe(2);
    // A purchase after calibration end changes nothing in the fit.
    expect(refit.result.data).toEqual(again.result.data);
  });

  it('reproduces cdnow_customers_summary.csv for every customer, batching all ids of a document into one SQL', async () => {
    const ids = published.map(([sampleId]) => masterOf.get(sampleId)!);
    const chunks = [ids.slice(0, 1000), ids.slice(1000, 2000), ids.slice(2000)];
    const { result, queries } = await counted(
      `query($a: [String!]!, $b: [String!]!, $c: [String!]!) {
        a: customerPredictions(ids: $a, horizon: 39, calibrationEnd: "${CALIBRATION_END}") { customerId frequency recency T monetaryValue probabilityAlive }
        b: customerPredictions(ids: $b, horizon: 39, calibrationEnd: "${CALIBRATION_END}") { customerId frequency recency T monetaryValue probabilityAlive }
        c: customerPredictions(ids: $c, horizon: 39, calibrationEnd: "${CALIBRATION_END}") { customerId frequency recency T monetaryValue probabilityAlive }
      }`,
      { a: chunks[0], b: chunks[1], c: chunks[2] },
    );
    expect(result.errors).toBeUndefined();
    // The data-version probe and one summary query for all 2,357 ids.
    expect(queries).toBe(2);
    const predictions = [...result.data.a, ...result.data.b, ...result.data.c];
    expect(predictions).toHaveLength(2357);
    published.forEach(([, frequency, recency, T], i) => {
      const p = predictions[i];
      expect(p.customerId).toBe(ids[i]);
      expect(p.frequency).toBe(frequency);
      // The CSV rounds weeks to two decimals.
      expect(Math.abs(p.recency - recency)).toBeLessThanOrEqual(0.005 + 1e-9);
      expect(Math.abs(p.T - T)).toBeLessThanOrEqual(0.005 + 1e-9);
      expect(p.monetaryValue === null).toBe(frequency === 0);
    });
    expect(predictions.filter((p) => p.probabilityAlive === 1)).toHaveLength(1411);
  });

  it('predicts purchases and CLV for the worked example customer of Fader, Hardie & Lee', async () => {
    // Sample customer 1: x = 2, t_x = 30.43, T = 38.86; the paper expects 1.226 purchases in 39 weeks.
    const { data, errors } = await svc.gql(`{
      customerPredictions(ids: ["${masterOf.get(1)}"], horizon: 39, calibrationEnd: "${CALIBRATION_END}", margin: 0.5) {
        frequency monetaryValue probabilityAlive expectedPurchases expectedAverageOrderValue predictedClv
      }
    }`);
    expect(errors).toBeUndefined();
    const [c] = data.customerPredictions;
    expect(c.frequency).toBe(2);
    // Repeat days: 1997-01-18 (29.73) and 1997-08-02 (14.96).
    expect(c.monetaryValue).toBeCloseTo((29.73 + 14.96) / 2, 10);
    expect(c.probabilityAlive).toBeCloseTo(0.727, 2);
    expect(c.expectedPurchases).toBeCloseTo(1.226, 2);
    expect(c.predictedClv).toBeCloseTo(0.5 * c.expectedAverageOrderValue * c.expectedPurchases, 10);
  });

  it('backtests the 39-week holdout: actual purchases counted from the raw file, predictions from a reference model', async () => {
    const { data, errors } = await svc.gql(MODEL, { holdoutEnd: HOLDOUT_END });
    expect(errors).toBeUndefined();
    const b = data.clvModel.backtest;
    expect(b.holdoutLength).toBe(39);
    // Holdout purchase days per customer, counted from CDNOW_sample.txt (1997-10-01 .. 1998-06-30).
    const holdoutDays = new Map<string, Set<string>>();
    for (const [master, , date] of lines) {
      if (date! <= '19970930' || date! > '19980630') continue;
      if (!holdoutDays.has(master!)) holdoutDays.set(master!, new Set());
      holdoutDays.get(master!)!.add(date!);
    }
    // Per bucket (calibration frequency 0..6, 7+), from the published summary and a quadrature
    // reference with the parameters the service fitted (checked against the paper above).
    const buckets = Array.from({ length: 8 }, () => ({ customers: 0, actual: 0, predicted: 0 }));
    let absoluteError = 0;
    const memo = new Map<string, number>();
    for (const [sampleId, x, recency, T] of published) {
      const key = `${x}|${recency}|${T}`;
      if (!memo.has(key)) memo.set(key, expectedPurchasesReference(data.clvModel.bgnbd, 39, x, recency, T, 20_000));
      const bucket = buckets[Math.min(x, 7)]!;
      bucket.customers++;
      const bought = holdoutDays.get(masterOf.get(sampleId)!)?.size ?? 0;
      bucket.actual += bought;
      bucket.predicted += memo.get(key)!;
      absoluteError += Math.abs(bought - memo.get(key)!);
    }
    expect(b.buckets.map((x: { customers: number }) => x.customers)).toEqual(buckets.map((x) => x.customers));
    b.buckets.forEach((bucket: { actualMean: number; predictedMean: number }, i: number) => {
      const expected = buckets[i]!;
      expect(bucket.actualMean).toBeCloseTo(expected.actual / expected.customers, 10);
      // The published summary rounds recency and T to two decimals of a week.
      expect(bucket.predictedMean).toBeCloseTo(expected.predicted / expected.customers, 2);
    });
    const actual = buckets.reduce((s, x) => s + x.actual, 0);
    const predicted = buckets.reduce((s, x) => s + x.predicted, 0);
    expect(b.total.customers).toBe(2357);
    expect(b.total.actualMean).toBeCloseTo(actual / 2357, 10);
    expect(b.total.predictedMean).toBeCloseTo(predicted / 2357, 3);
    expect(b.relativeError).toBeCloseTo((b.total.predictedMean - b.total.actualMean) / b.total.actualMean, 12);
    expect(b.total.meanAbsoluteError).toBeCloseTo(absoluteError / 2357, 3);
  });

  it('shares one fit between requests, and finishes it for the others when the request that started it leaves', async () => {
    // DAY: a model none of the tests above fitted.
    const args = { calibrationEnd: new Date(CALIBRATION_END), holdoutEnd: null, currency: 'USD', timeUnit: TimeUnit.DAY };
    const leaving = new AbortController();
    let fits = 0;
    const stop = svc.exec.observe(({ query }) => {
      if (query.includes('GROUPING SETS')) fits++;
      // The first request leaves as soon as it knows the store's version, before its fit returns.
      else if (query.includes('system.parts')) leaving.abort();
    });
    try {
      const [left, stayed] = await Promise.allSettled([
        runClvModel(svc.exec, { requestId: 'left', signal: leaving.signal }, args),
        runClvModel(svc.exec, { requestId: 'stayed' }, args),
      ]);
      expect(left.status).toBe('rejected');
      expect(stayed.status).toBe('fulfilled');
      expect(fits).toBe(1);
    } finally {
      stop();
    }
    // A cached model costs one look at the parts' metadata, not a scan of purchases; any new purchase refits it.
    const statements: string[] = [];
    const watch = svc.exec.observe(({ query }) => statements.push(query));
    try {
      await runClvModel(svc.exec, { requestId: 'again' }, args);
      expect(statements).toHaveLength(1);
      expect(statements[0]).toMatch(/system\.parts/);
      await insertPurchases(svc.exec, [['late-1', '1998-07-01T00:00:00Z', '5', 'USD']]);
      statements.length = 0;
      await runClvModel(svc.exec, { requestId: 'after-insert' }, args);
      expect(statements.filter((q) => q.includes('GROUPING SETS'))).toHaveLength(1);
    } finally {
      watch();
    }
  });

  it('lists valuable customers who are probably gone, by revenue at risk, with the same P(alive) as the predictions', async () => {
    const { data, errors } = await svc.gql(`{
      atRiskCustomers(first: 5, minHistoricalValue: 100, calibrationEnd: "${CALIBRATION_END}", currency: "USD") {
        totalCount maxProbabilityAlive
        customers { customerId historicalRevenue orders frequency recency T lastPurchaseAt probabilityAlive valueAtRisk }
      }
    }`);
    expect(errors).toBeUndefined();
    const list = data.atRiskCustomers;
    expect(list.maxProbabilityAlive).toBe(0.5);
    expect(list.customers).toHaveLength(5);
    expect(list.totalCount).toBeGreaterThanOrEqual(5);
    for (const c of list.customers) {
      expect(c.historicalRevenue).toBeGreaterThanOrEqual(100);
      expect(c.probabilityAlive).toBeLessThan(0.5);
      expect(c.valueAtRisk).toBeCloseTo(c.historicalRevenue * (1 - c.probabilityAlive), 8);
    }
    const risks = list.customers.map((c: { valueAtRisk: number }) => c.valueAtRisk);
    expect(risks).toEqual([...risks].sort((x, y) => y - x));
    const ids = list.customers.map((c: { customerId: string }) => c.customerId);
    const { data: p } = await svc.gql(`query($ids: [String!]!) {
      customerPredictions(ids: $ids, horizon: 1, calibrationEnd: "${CALIBRATION_END}") { frequency recency T probabilityAlive }
    }`, { ids });
    p.customerPredictions.forEach((pred: { frequency: number; recency: number; T: number; probabilityAlive: number }, i: number) => {
      const c = list.customers[i];
      expect([pred.frequency, pred.recency, pred.T]).toEqual([c.frequency, c.recency, c.T]);
      expect(c.probabilityAlive).toBeCloseTo(pred.probabilityAlive, 10);
    });
  });
});
