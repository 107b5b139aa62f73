import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, lookAlikeProblem } from '../server/config.js';

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  return [];
}

describe('configuration', () => {
  it('acknowledges from the ingest log embedded, after the inserts on a server, and refuses the log with CLICKHOUSE_URL', () => {
    expect(loadConfig({}).ingestLog).toBe(true);
    expect(loadConfig({ INGEST_LOG: 'off' }).ingestLog).toBe(false);
    expect(loadConfig({ CLICKHOUSE_URL: 'http://ch:8123' }).ingestLog).toBe(false);
    expect(problems({ INGEST_LOG: 'on', CLICKHOUSE_URL: 'http://ch:8123' })).toEqual([
      'INGEST_LOG=on needs the embedded store (no CLICKHOUSE_URL): on a server, events are acknowledged once inserted',
    ]);
  });

  it('refuses variables that look like settings, saying which was meant', () => {
    expect(problems({ API_KEY: 'x', CLICKHOUSE_URI: 'http://h:8123', GRAPHQL_MAX_ALIAS: '5', SNAPSHOT_SCHEDULES: '', data_dir: '/d' })).toEqual([
      'API_KEY is not a setting of this service: did you mean API_KEYS?',
      'CLICKHOUSE_URI is not a setting of this service: did you mean CLICKHOUSE_URL?',
      'GRAPHQL_MAX_ALIAS is not a setting of this service: did you mean GRAPHQL_MAX_ALIASES?',
      'SNAPSHOT_SCHEDULES is not a setting of this service: did you mean SNAPSHOT_SCHEDULE?',
      'data_dir is not a setting of this service: did you mean DATA_DIR?',
    ]);
    expect(problems({ INGEST_MAX_BODY: '5', QUERY_TIMEOUT: '3', REPORTING_CURENCY: 'EUR' })).toEqual([
      'INGEST_MAX_BODY is not a setting of this service (known: INGEST_MAX_BODY_BYTES, INGEST_BATCH_LIMIT, INGEST_LOG)',
      'QUERY_TIMEOUT is not a setting of this service (known: QUERY_MAX_EXECUTION_TIME, QUERY_MAX_MEMORY_USAGE)',
      'REPORTING_CURENCY is not a setting of this service: did you mean REPORTING_CURRENCY?',
    ]);
  });

  it('leaves the variables of other software alone', () => {
    const foreign = ['HOME', 'PWD', 'HOSTNAME', 'PATH', 'HTTP_PROXY', 'https_proxy', 'NO_PROXY', 'QUERY_STRING', 'CLICKHOUSE_DB', 'CLICKHOUSE_HOST',
      'CLICKHOUSE_SERVER_BIN', 'DATASETS_DIR', 'NODE_OPTIONS', 'DATABASE_URL', 'KPI_URL', 'KPI_API_KEY', 'CI', 'TZ', 'LANG', 'DEBUG'];
    for (const name of foreign) expect(lookAlikeProblem(name)).toBeUndefined();
    expect(problems(Object.fromEntries(foreign.map((n) => [n, 'x'])))).toEqual([]);
  });

  it('moves credentials out of CLICKHOUSE_URL, so the URL it keeps is safe to print', () => {
    const config = loadConfig({ CLICKHOUSE_URL: 'https://kpi:p%40ss%3Aword@ch.internal:8443' });
    expect(config.server).toMatchObject({ url: 'https://ch.internal:8443', user: 'kpi', password: 'p@ss:word' });
    expect(loadConfig({ CLICKHOUSE_URL: 'http://:only-a-password@ch:8123' }).server).toMatchObject({ url: 'http://ch:8123', user: 'default', password: 'only-a-password' });
    expect(loadConfig({ CLICKHOUSE_URL: 'http://ch:8123', CLICKHOUSE_PASSWORD: 'pw' }).server).toMatchObject({ url: 'http://ch:8123', password: 'pw' });
    expect(problems({ CLICKHOUSE_URL: 'http://kpi:s3cret@ch:8123', CLICKHOUSE_PASSWORD: 'other' })).toEqual([
      'CLICKHOUSE_URL holds a user name or password and CLICKHOUSE_USER/CLICKHOUSE_PASSWORD are set too: give the credentials in one place',
    ]);
    const bad = problems({ CLICKHOUSE_URL: 'ftp://kpi:s3cret@ch:21' });
    expect(bad).toEqual(['CLICKHOUSE_URL="ftp://kpi:***@ch:21" is not an http(s) URL']);
  });

  it('has HTTP limits that fit a 256 MiB ingest body, and checks their order', () => {
    const { http } = loadConfig({});
    expect(http).toEqual({ headersTimeoutMs: 20_000, bodyIdleTimeoutMs: 30_000, requestTimeoutMs: 900_000, keepAliveTimeoutMs: 5_000, bodyBufferBytes: 64 * 1024 ** 2 });
    // 256 MiB within the request timeout asks a client for no more than 300 KB/s.
    expect((256 * 1024 ** 2) / (http.requestTimeoutMs / 1000)).toBeLessThan(300_000);
    expect(problems({ HTTP_HEADERS_TIMEOUT_MS: '5000', HTTP_REQUEST_TIMEOUT_MS: '1000' })).toEqual([
      'HTTP_HEADERS_TIMEOUT_MS=5000 exceeds HTTP_REQUEST_TIMEOUT_MS=1000: the headers are part of the request',
    ]);
    expect(problems({ HTTP_BODY_IDLE_TIMEOUT_MS: '0' })).toEqual(['HTTP_BODY_IDLE_TIMEOUT_MS="0" is not an integer in [10, 3600000]']);
  });

  it('ingests, renews a 30 s writer lease every 10 s and keeps comments forever unless told otherwise', () => {
    expect(loadConfig({})).toMatchObject({ ingest: true, writerLease: { ttlMs: 30_000, renewMs: 10_000 }, commentRetentionDays: undefined });
    expect(loadConfig({ INGEST: 'off', COMMENT_RETENTION_DAYS: '400' })).toMatchObject({ ingest: false, commentRetentionDays: 400 });
    expect(problems({ WRITER_LEASE_TTL_MS: '15000', COMMENT_RETENTION_DAYS: '0', INGEST: 'maybe', WRITER_LEASE_TIMEOUT: '5' })).toEqual([
      'WRITER_LEASE_TIMEOUT is not a setting of this service (known: WRITER_LEASE_TTL_MS, WRITER_LEASE_RENEW_MS)',
      'INGEST="maybe" is not a boolean (true/false)',
      'COMMENT_RETENTION_DAYS="0" is not an integer in [1, 365000]',
      'WRITER_LEASE_TTL_MS=15000 is less than twice WRITER_LEASE_RENEW_MS=10000: the holder stops writing one renewal period before its lease expires, and must have renewed at least once by then',
    ]);
  });

  it('allows no webhook host unless WEBHOOK_ALLOWED_HOSTS names some, and refuses entries that are not host or host:port', () => {
    expect(loadConfig({}).webhookAllowedHosts.entries).toEqual([]);
    expect(loadConfig({}).webhookTimeoutMs).toBe(10_000);
    expect(loadConfig({ WEBHOOK_ALLOWED_HOSTS: 'Hooks.Example.com, 127.0.0.1:8080' }).webhookAllowedHosts).toMatchObject({
      anyPort: new Set(['hooks.example.com']),
      exact: new Set(['127.0.0.1:8080']),
    });
    expect(problems({ WEBHOOK_ALLOWED_HOSTS: 'ok.example.com,https://x.example.com/path', WEBHOOK_TIMEOUT: '5' })).toEqual([
      'WEBHOOK_TIMEOUT is not a setting of this service: did you mean WEBHOOK_TIMEOUT_MS?',
      'WEBHOOK_ALLOWED_HOSTS: "https://x.example.com/path" is not a host or host:port entry (e.g. hooks.example.com or 127.0.0.1:8080)',
    ]);
  });
});
