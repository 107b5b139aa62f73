/**
 * `npm run bench -- clv [--customers N]`: the predictive CLV model (RFM summary in ClickHouse,
 * BG/NBD and Gamma-Gamma fits) on N customers (default 1,000,000) and about 10 purchases each,
 * generated inside ClickHouse as a BG/NBD-like process: each customer buys a geometric number
 * of times (mean 10) at random moments of an exponential lifetime, around a personal order value.
 * The store lives in .bench/clv and is regenerated only when N or this generator changes.
 */
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runClvModel, TimeUnit, type ClvModelArgs } from '../loaders/clv-model.loader.js';
import { loadConfig } from '../server/config.js';
import { createLogger } from '../server/logger.js';
import { migrate, MigrationError } from '../server/storage/migrate.js';
import { createExecutor } from '../server/service.js';
import { openStorage } from '../server/storage/client.js';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const START = Date.UTC(2024, 6, 1);
const CALIBRATION_END = new Date('2025-06-30T23:59:59.999Z');
const HOLDOUT_END = new Date('2025-12-31T23:59:59.999Z');
const DAY_MS = 86_400_000;
const ctx = { requestId: 'bench-clv' };

// A BG/NBD process: customer c first buys at a uniform moment of the year before calibration
// end, then at exponential gaps (rate exponential around one purchase per 13 days) and drops out
// after each purchase with a probability of 2..15 %; purchases after the holdout end are cut.
// Amounts are uniform in ±50 % of a personal mean of 10..100.
const GENERATE = `
  INSERT INTO {db:Identifier}.purchases (event_id, customer_id, occurred_at, amount, currency, order_id, channel)
  SELECT concat('clv4-', toString(c), '-', toString(k)), concat('c', leftPad(toString(c), 8, '0')),
         fromUnixTimestamp64Milli(first_ms + offset, 'UTC'),
         toDecimal64(mean * (0.5 + (cityHash64('m', c, k) % 1000) / 1000), 2), 'USD', NULL, NULL
  FROM (
    SELECT number AS c,
           {start:Int64} + toInt64(cityHash64('f', c) % ({calibrationEnd:Int64} - {start:Int64})) AS first_ms,
           -log((cityHash64('l', c) % 1000000 + 1) / 1000001) / 13 AS per_day,
           0.02 + (cityHash64('p', c) % 1000) / 7700 AS dropout,
           least(200, 1 + toUInt32(floor(log((cityHash64('k', c) % 1000000 + 1) / 1000001) / log(1 - dropout)))) AS purchases,
           10 + cityHash64('v', c) % 91 AS mean,
           arrayCumSum(arrayMap(i -> toInt64(-log((cityHash64('g', c, i) % 1000000 + 1) / 1000001) / per_day * ${DAY_MS}), range(purchases - 1))) AS gaps
    FROM numbers({customers:UInt64})
  )
  ARRAY JOIN arrayPushFront(gaps, toInt64(0)) AS offset, range(purchases) AS k
  WHERE first_ms + offset <= {holdoutEnd:Int64}`;

function mib(bytes: number): string {
  return `${(bytes / 1024 ** 2).toFixed(0)} MiB`;
}

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { customers: { type: 'string', default: '1000000' } } });
  const customers = Number(values.customers);
  if (!Number.isInteger(customers) || customers < 1) throw new Error(`--customers must be a positive integer (got ${values.customers})`);
  const config = loadConfig({ DATA_DIR: join(ROOT, '.bench', 'clv'), CLICKHOUSE_DATABASE: 'bench_clv', LOG_LEVEL: 'silent' });
  const storage = await openStorage(config);
  const exec = createExecutor(storage, config, createLogger('silent'));
  try {
    try {
      await migrate(exec);
    } catch (e) {
      if (!(e instanceof MigrationError)) throw e;
      // A bench store is disposable: one built under since-edited migrations is rebuilt, not repaired.
      console.log(`recreating the bench store: ${e.message}`);
      await exec.command('DROP DATABASE {db:Identifier}', ctx);
      await exec.command('CREATE DATABASE {db:Identifier}', ctx);
      await migrate(exec);
    }
    const [stored] = await exec.rows<{ customers: number }>(
      { query: "SELECT uniqExact(customer_id) AS customers FROM {db:Identifier}.purchases WHERE startsWith(event_id, 'clv4-')", query_params: {} },
      ctx,
    );
    const generate = stored!.customers !== customers;
    if (generate) {
      const started = performance.now();
      await exec.command('TRUNCATE TABLE {db:Identifier}.purchases', ctx);
      const query_params = { customers, start: START, calibrationEnd: CALIBRATION_END.getTime(), holdoutEnd: HOLDOUT_END.getTime() };
      await exec.command({ query: GENERATE, query_params }, ctx, { max_execution_time: 0 });
      console.log(`generated in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    }
    const [{ n: purchases }] = (await exec.rows<{ n: number }>({ query: 'SELECT count() AS n FROM {db:Identifier}.purchases', query_params: {} }, ctx)) as [{ n: number }];
    console.log(`clv: ${customers.toLocaleString('en')} customers, ${purchases.toLocaleString('en')} purchases`);

    let sqlMs = 0;
    // The fit runs after the last query: CPU from there on is the fit's alone, before it the engine's threads count too.
    let cpuAfterSql = process.cpuUsage();
    exec.observe(({ durationMs }) => {
      sqlMs += durationMs;
      cpuAfterSql = process.cpuUsage();
    });
    const measure = async (label: string, a: ClvModelArgs) => {
      sqlMs = 0;
      const cpuBefore = process.cpuUsage();
      const started = performance.now();
      const model = await runClvModel(exec, ctx, a);
      const totalMs = performance.now() - started;
      const cpu = process.cpuUsage(cpuBefore);
      const fitCpu = process.cpuUsage(cpuAfterSql);
      console.log(
        `${label.padEnd(26)} total ${(totalMs / 1000).toFixed(2)} s (SQL ${(sqlMs / 1000).toFixed(2)} s, fit ${((totalMs - sqlMs) / 1000).toFixed(2)} s), ` +
          `CPU ${((cpu.user + cpu.system) / 1e6).toFixed(2)} s (fit ${((fitCpu.user + fitCpu.system) / 1e6).toFixed(2)} s); ${model.customers.toLocaleString('en')} customers in ${model.uniqueSummaries.toLocaleString('en')} tuples`,
      );
      return model;
    };
    const rssBefore = process.memoryUsage().rss;
    const calibration = { calibrationEnd: CALIBRATION_END, holdoutEnd: null, currency: 'USD', timeUnit: TimeUnit.WEEK };
    const model = await measure('calibration fit (cold)', calibration);
    const { r, alpha, a, b } = model.bgnbd;
    console.log(`  BG/NBD r=${r.toFixed(4)} alpha=${alpha.toFixed(4)} a=${a.toFixed(4)} b=${b.toFixed(4)}`);
    const gg = model.gammaGamma;
    console.log(gg ? `  Gamma-Gamma p=${gg.p.toFixed(3)} q=${gg.q.toFixed(3)} v=${gg.v.toFixed(3)} on ${gg.repeatCustomers.toLocaleString('en')} repeat customers` : `  Gamma-Gamma: ${model.gammaGammaUnavailableReason}`);
    await measure('calibration fit (cached)', calibration);
    const withHoldout = await measure('fit + holdout backtest', { ...calibration, holdoutEnd: HOLDOUT_END });
    const total = withHoldout.backtest!.total;
    console.log(`  holdout ${withHoldout.backtest!.holdoutLength.toFixed(1)} weeks: actual ${total.actualMean!.toFixed(3)}, predicted ${total.predictedMean!.toFixed(3)} purchases per customer`);
    // maxRSS is the process's peak: after generating in this process it says nothing about the fits.
    const peak = process.resourceUsage().maxRSS * 1024;
    console.log(
      generate
        ? 'memory: store generated in this run, run again for the figure'
        : `memory: peak RSS ${mib(peak)}, +${mib(peak - rssBefore)} over the ${mib(rssBefore)} before the first fit (engine included)`,
    );
  } finally {
    await storage.close();
  }
}
