// The Grafana boards and their provisioning. Grafana cannot run here, so this checks what
// Grafana and the Infinity plugin would do: the board JSON against the linter's rules, and
// every panel's query, with the macros and variables expanded as Grafana expands them, against
// the real service loaded with a deterministic demo store, down to each column's type.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { buildSchema, parse, validate, Kind, type OperationDefinitionNode } from 'graphql';
import jsonata from 'jsonata';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBoards } from '../dashboards/src/boards.js';
import { QUERIES_DIR } from '../dashboards/src/documents.js';
import { usedDocuments } from '../dashboards/src/panels.js';
import { generateStore } from '../scripts/generate/store.js';
import { startTestService, type TestService } from './helpers/service.js';

const ROOT = resolve(import.meta.dirname, '..');
const BOARDS_DIR = join(ROOT, 'dashboards/boards');
const DATASOURCE_UID = 'kpi-api';
/** Unit ids from Grafana's unit list (packages/grafana-data valueFormats) that the boards may use. */
const GRAFANA_UNITS = new Set(['none', 'short', 'percent', 'percentunit', 'string', 'd', 'h', 'currencyUSD', 'currencyEUR']);

type Json = any;
const boards: Json[] = readdirSync(BOARDS_DIR).filter((f) => f.endsWith('.json')).sort().map((f) => JSON.parse(readFileSync(join(BOARDS_DIR, f), 'utf8')));
const allPanels = boards.flatMap((b) => (b.panels as Json[]).map((p) => ({ board: b, panel: p })));

// --- Grafana's interpolation, as far as the boards use it ---

/** A selection: one value, several, or "All". */
type Selection = string | string[];
const ALL = '$__all';
const VARIABLE = /\$(\w+)|\$\{(\w+)(?::([^}]+))?\}/g;

/** What Grafana's template service does to a query text (templateSrv.replace), for the formats the boards use. */
function interpolate(text: string, board: Json, values: Record<string, Selection>, range: { from: string; to: string }): string {
  const defs = new Map<string, Json>((board.templating.list as Json[]).map((v) => [v.name, v]));
  return text.replace(VARIABLE, (match, plain: string | undefined, braced: string | undefined, format: string | undefined) => {
    const name = (plain ?? braced)!;
    if (name === '__timeFrom' || name === '__timeTo') {
      expect(format).toBe('date:iso');
      return name === '__timeFrom' ? range.from : range.to;
    }
    const def = defs.get(name);
    if (!def) return match; // Grafana leaves unknown names as they are.
    const value = values[name] ?? def.current.value;
    const isAll = value === ALL || (Array.isArray(value) && value.includes(ALL));
    // A custom all value is written as is, whatever the format.
    if (isAll && def.allValue) return def.allValue;
    const list = Array.isArray(value) ? value : [value];
    if (format === 'json') return JSON.stringify(def.multi ? list : list[0]);
    expect(format).toBeUndefined();
    return list.length === 1 ? list[0]! : `{${list.join(',')}}`; // the plugin's default format: glob
  });
}

/** The values a custom variable offers ("text : value" pairs or plain values). */
function optionsOf(def: Json): string[] {
  return String(def.query).split(',').map((o) => (o.includes(' : ') ? o.split(' : ')[1]! : o).trim());
}

// --- The plugin's selectors ---

const GJSON_PATH = /^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$/;
function gjson(value: Json, path: string): Json {
  return path.split('.').reduce((v, k) => (v == null ? undefined : v[k]), value);
}
/** The root selector: a GJSON path first, then JSONata; one object is one row. */
async function rows(body: Json, selector: string): Promise<Json[]> {
  const out = GJSON_PATH.test(selector) ? gjson(body, selector) : await jsonata(selector).evaluate(body);
  if (out === undefined || out === null) return [];
  return Array.isArray(out) ? out : [out];
}
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
function hasType(v: Json, type: string): boolean {
  if (type === 'number') return typeof v === 'number' && Number.isFinite(v);
  if (type === 'string') return typeof v === 'string';
  if (type === 'timestamp') return typeof v === 'string' && RFC3339.test(v) && !Number.isNaN(Date.parse(v));
  throw new Error(`unexpected column type ${type}`);
}

describe('board files', () => {
  it('are exactly what npm run dashboards writes (run it after changing dashboards/src or dashboards/queries)', () => {
    const built = buildBoards();
    expect(readdirSync(BOARDS_DIR).filter((f) => f.endsWith('.json')).sort()).toEqual(built.map((b) => b.file).sort());
    for (const b of built) expect(readFileSync(join(BOARDS_DIR, b.file), 'utf8'), b.file).toBe(b.json);
  });

  it('have unique, valid uids, the dashboard essentials and UTC time', () => {
    expect(boards).toHaveLength(5);
    expect(new Set(boards.map((b) => b.uid)).size).toBe(boards.length);
    for (const b of boards) {
      expect(b.uid).toMatch(/^[a-zA-Z0-9_-]{1,40}$/);
      expect(b.id).toBeUndefined();
      expect(b.title).toBeTruthy();
      expect([41, 42]).toContain(b.schemaVersion);
      expect(b.timezone).toBe('utc');
      expect(b.time).toEqual({ from: 'now-12M/M', to: 'now-1M/M' });
      expect(b.refresh).toBeTruthy();
      expect(b.tags).toContain('kpi');
      expect(Array.isArray(b.annotations.list)).toBe(true);
      expect(Array.isArray(b.templating.list)).toBe(true);
    }
  });

  it('give every panel an id, a title, a description, a Grafana unit and a target on the provisioned data source', () => {
    for (const b of boards) {
      const ids = (b.panels as Json[]).map((p) => p.id);
      expect(new Set(ids).size, b.uid).toBe(ids.length);
      for (const p of b.panels as Json[]) {
        const where = `${b.uid} / ${p.title}`;
        expect(Number.isInteger(p.id), where).toBe(true);
        expect(['stat', 'timeseries', 'table', 'barchart'], where).toContain(p.type);
        expect(p.title, where).toBeTruthy();
        expect(p.description, where).toBeTruthy();
        expect(GRAFANA_UNITS.has(p.fieldConfig.defaults.unit), `${where}: unit ${p.fieldConfig.defaults.unit}`).toBe(true);
        for (const o of p.fieldConfig.overrides as Json[]) {
          for (const prop of o.properties as Json[]) if (prop.id === 'unit') expect(GRAFANA_UNITS.has(prop.value), where).toBe(true);
        }
        expect(p.datasource).toEqual({ type: 'yesoreyeram-infinity-datasource', uid: DATASOURCE_UID });
        expect(p.targets.length, where).toBeGreaterThan(0);
        expect(new Set(p.targets.map((t: Json) => t.refId)).size, where).toBe(p.targets.length);
        for (const t of p.targets as Json[]) {
          expect(t.datasource.uid).toBe(DATASOURCE_UID);
          expect(t).toMatchObject({ type: 'graphql', source: 'url', parser: 'backend', url: '/graphql' });
          expect(t.url_options).toMatchObject({ method: 'POST', body_type: 'graphql', body_content_type: 'application/json', body_graphql_variables: '' });
          expect(['table', 'timeseries']).toContain(t.format);
          expect(t.filters).toBeUndefined();
          expect(t.columns.length, where).toBeGreaterThan(0);
        }
      }
    }
  });

  it('lay panels out on the 24-column grid without overlaps', () => {
    for (const b of boards) {
      const cells = new Set<string>();
      for (const p of b.panels as Json[]) {
        const { x, y, w, h } = p.gridPos;
        expect(x >= 0 && w > 0 && h > 0 && x + w <= 24, `${b.uid} / ${p.title}`).toBe(true);
        for (let i = x; i < x + w; i++) {
          for (let j = y; j < y + h; j++) {
            expect(cells.has(`${i},${j}`), `${b.uid} / ${p.title} overlaps at ${i},${j}`).toBe(false);
            cells.add(`${i},${j}`);
          }
        }
      }
    }
  });

  it('refer only to variables they define, and define only variables they use', () => {
    const builtins = new Set(['__timeFrom', '__timeTo']);
    for (const b of boards) {
      const defined = new Set((b.templating.list as Json[]).map((v) => v.name));
      const used = new Set<string>();
      // Root selectors are JSONata whose $names Grafana leaves alone: none may shadow a variable.
      for (const { panel } of allPanels.filter((x) => x.board === b)) {
        const { targets, ...rest } = panel;
        const texts = [JSON.stringify(rest), ...targets.map((t: Json) => JSON.stringify({ ...t, root_selector: '' }))];
        for (const text of texts) for (const m of text.matchAll(VARIABLE)) used.add(m[1] ?? m[2]);
        for (const t of targets) for (const m of String(t.root_selector).matchAll(VARIABLE)) expect(defined.has(m[1] ?? m[2])).toBe(false);
      }
      for (const name of used) expect(defined.has(name) || builtins.has(name), `${b.uid} uses $${name}`).toBe(true);
      for (const name of defined) expect(used.has(name), `${b.uid} defines unused $${name}`).toBe(true);
      for (const v of b.templating.list as Json[]) {
        expect(v.type).toBe('custom');
        if (v.includeAll) expect(v.allValue).toBe('null');
      }
    }
  });

  it('offer the five grains and inline the time range as ISO instants', () => {
    for (const b of boards) {
      const grain = (b.templating.list as Json[]).find((v) => v.name === 'grain');
      if (grain) expect(optionsOf(grain)).toEqual(['DAY', 'WEEK', 'MONTH', 'QUARTER', 'YEAR']);
      for (const { panel } of allPanels.filter((x) => x.board === b)) {
        for (const t of panel.targets as Json[]) {
          expect(t.url_options.body_graphql_query).toContain('from: "${__timeFrom:date:iso}"');
          expect(t.url_options.body_graphql_query).toContain('to: "${__timeTo:date:iso}"');
        }
      }
    }
  });
});

describe('query documents', () => {
  const schema = buildSchema(readFileSync(join(ROOT, 'schema/schema.graphql'), 'utf8'));
  const files = readdirSync(QUERIES_DIR).filter((f) => f.endsWith('.graphql')).sort();

  it('are valid operations against schema/schema.graphql, named Board..., one per file, all used by a board', () => {
    buildBoards();
    const names = new Set<string>();
    for (const f of files) {
      const doc = parse(readFileSync(join(QUERIES_DIR, f), 'utf8'));
      expect(validate(schema, doc), f).toEqual([]);
      const ops = doc.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
      expect(ops).toHaveLength(1);
      const name = ops[0]!.name!.value;
      expect(name).toMatch(/^Board[A-Z]/);
      expect(`${name}.graphql`).toBe(f);
      expect(names.has(name)).toBe(false);
      names.add(name);
    }
    expect([...usedDocuments.keys()].sort()).toEqual([...names].sort());
  });
});

describe('provisioning and docker-compose.yml', () => {
  const datasource = parseYaml(readFileSync(join(ROOT, 'dashboards/provisioning/datasources/kpi-api.yaml'), 'utf8'));
  const provider = parseYaml(readFileSync(join(ROOT, 'dashboards/provisioning/dashboards/kpi-boards.yaml'), 'utf8'));
  const compose = parseYaml(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'));

  it('provision the Infinity data source with the bearer key, allowed host and /healthz check from the environment', () => {
    expect(datasource.apiVersion).toBe(1);
    expect(datasource.datasources).toHaveLength(1);
    const ds = datasource.datasources[0];
    expect(ds).toMatchObject({ uid: DATASOURCE_UID, type: 'yesoreyeram-infinity-datasource', url: '$KPI_API_URL' });
    expect(ds.jsonData).toMatchObject({
      auth_method: 'bearerToken',
      allowedHosts: ['$KPI_API_URL'],
      customHealthCheckEnabled: true,
      customHealthCheckUrl: '${KPI_API_URL}/healthz',
    });
    expect(ds.secureJsonData).toEqual({ bearerToken: '$KPI_API_KEY' });
  });

  it('load the boards from a file provider into a folder', () => {
    expect(provider.apiVersion).toBe(1);
    expect(provider.providers).toHaveLength(1);
    expect(provider.providers[0]).toMatchObject({ type: 'file', folder: 'KPIs' });
    expect(provider.providers[0].options.path).toBeTruthy();
  });

  it('wire compose to the same ports, env var names, provisioning paths and service configuration', () => {
    const { kpi, grafana, clickhouse } = compose.services;
    // Every variable the service is given is one it reads.
    const configSource = readFileSync(join(ROOT, 'server/config.ts'), 'utf8');
    const known = new Set([...configSource.matchAll(/r\.\w+\('([A-Z_]+)'/g)].map((m) => m[1]));
    expect(known.size).toBeGreaterThan(10);
    for (const name of Object.keys(kpi.environment)) expect(known.has(name), name).toBe(true);
    expect(kpi.environment.API_KEYS).toMatch(/^\$\{API_KEYS:\?/);
    expect(kpi.ports).toEqual([`${kpi.environment.PORT}:${kpi.environment.PORT}`]);
    // Grafana reaches the service by its compose name and port, with the variables the provisioning reads.
    expect(grafana.environment.KPI_API_URL).toBe(`http://kpi:${kpi.environment.PORT}`);
    expect(grafana.environment.KPI_API_KEY).toMatch(/^\$\{KPI_API_KEY:\?/);
    expect(grafana.environment.GF_PLUGINS_PREINSTALL_SYNC).toBe('yesoreyeram-infinity-datasource');
    const provisioningText = readFileSync(join(ROOT, 'dashboards/provisioning/datasources/kpi-api.yaml'), 'utf8');
    const referenced = new Set([...provisioningText.matchAll(/\$\{?([A-Z_]+)\}?/g)].map((m) => m[1]));
    expect([...referenced].sort()).toEqual(['KPI_API_KEY', 'KPI_API_URL']);
    const mounts = new Map((grafana.volumes as string[]).map((v) => [v.split(':')[1], v.split(':')[0]]));
    expect(mounts.get('/etc/grafana/provisioning')).toBe('./dashboards/provisioning');
    expect(mounts.get(provider.providers[0].options.path)).toBe('./dashboards/boards');
    for (const svc of [kpi, grafana, clickhouse]) {
      for (const v of svc.volumes as string[]) {
        const source = v.split(':')[0]!;
        if (source.startsWith('.')) expect(existsSync(join(ROOT, source)), source).toBe(true);
        else expect(Object.keys(compose.volumes)).toContain(source);
      }
    }
    expect(clickhouse.profiles).toEqual(['clickhouse']);
    expect(clickhouse.environment.CLICKHOUSE_DB).toBe(kpi.environment.CLICKHOUSE_DATABASE);
    expect(clickhouse.environment.CLICKHOUSE_PASSWORD).toBe(kpi.environment.CLICKHOUSE_PASSWORD);
    expect(clickhouse.ports).toEqual(['8123:8123']);
  });
});

describe('every panel query against the real service', () => {
  let service: TestService;

  beforeAll(async () => {
    service = await startTestService('t_dashboards');
    const events = [...generateStore({ customers: 2000, purchases: 10_000, start: '2024-01-01T00:00:00Z', end: '2026-01-01T00:00:00Z', seed: 11 })];
    const res = await fetch(`${service.url}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-ndjson' },
      body: events.map((e) => JSON.stringify(e)).join('\n'),
    });
    const body = (await res.json()) as Json;
    expect(res.status).toBe(200);
    expect(body.rejected).toEqual([]);
    expect(body.accepted).toBe(events.length);
  });
  afterAll(() => service?.stop());

  // Grafana's "last 12 complete months" of 2026-01-xx: `now-12M/M` to `now-1M/M`.
  const range = { from: '2025-01-01T00:00:00.000Z', to: '2025-12-31T23:59:59.999Z' };
  const scenarios: { name: string; values: Record<string, Selection>; everyColumnFilled: boolean }[] = [
    { name: 'defaults (MONTH, USD, no filter)', values: {}, everyColumnFilled: true },
    {
      name: 'QUARTER, EUR, two countries, one channel, organic',
      values: { grain: 'QUARTER', currency: 'EUR', country: ['DE', 'FR'], channel: ['organic'], segment: ALL, referred: 'false' },
      everyColumnFilled: false,
    },
  ];

  for (const scenario of scenarios) {
    it(`answers every target with HTTP 200, data and typed columns: ${scenario.name}`, async () => {
      const answers = new Map<string, Promise<{ status: number; body: Json }>>();
      for (const { board, panel } of allPanels) {
        for (const [name, value] of Object.entries(scenario.values)) {
          const def = (board.templating.list as Json[]).find((v) => v.name === name);
          if (def) for (const v of [value].flat()) if (v !== ALL) expect(optionsOf(def)).toContain(v);
        }
        for (const t of panel.targets as Json[]) {
          const where = `${board.uid} / ${panel.title} / ${t.refId}`;
          const query = interpolate(t.url_options.body_graphql_query, board, scenario.values, range);
          expect(query, where).not.toMatch(/\$\{|\$[a-z_]/i);
          // Identical bodies (one document behind several panels) are asked once.
          let answer = answers.get(query);
          if (!answer) {
            answer = fetch(`${service.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query }) })
              .then(async (r) => ({ status: r.status, body: await r.json() }));
            answers.set(query, answer);
          }
          const { status, body } = await answer;
          expect(status, where).toBe(200);
          expect(body.errors, `${where}: ${JSON.stringify(body.errors)}`).toBeUndefined();
          expect(body.data, where).toBeTruthy();
          const found = await rows(body, t.root_selector);
          expect(found.length, `${where}: no rows`).toBeGreaterThan(0);
          for (const c of t.columns as Json[]) {
            expect(GJSON_PATH.test(c.selector), where).toBe(true);
            const values = found.map((r) => gjson(r, c.selector));
            for (const v of values) if (v !== null && v !== undefined) expect(hasType(v, c.type), `${where}: ${c.selector} = ${JSON.stringify(v)} is not ${c.type}`).toBe(true);
            if (scenario.everyColumnFilled) expect(values.some((v) => v !== null && v !== undefined), `${where}: ${c.selector} is never set`).toBe(true);
          }
          // A long frame becomes one series per cohort only when sorted by time.
          const time = (t.columns as Json[]).find((c) => c.type === 'timestamp');
          if (time) {
            const stamps = found.map((r) => gjson(r, time.selector) as string);
            expect(stamps, where).toEqual([...stamps].sort());
          }
        }
      }
    });
  }

  it('gives, for each period of kpiSeries, exactly the kpiSnapshot of that period', async () => {
    const fields = 'from to customers newCustomers orders repeatPurchaseRate revenue averageOrderValue clv retentionRate nps csat referralConversionRate';
    const series = await service.gql(`{ kpiSeries(from: "2025-01-15T00:00:00Z", to: "2025-04-01T00:00:00Z", asOf: "2026-01-01T00:00:00Z") { ${fields} } }`);
    expect(series.errors).toBeUndefined();
    // Periods that start in [Jan 15, Apr 1): February and March only.
    expect(series.data.kpiSeries.map((p: Json) => [p.from, p.to])).toEqual([
      ['2025-02-01T00:00:00.000Z', '2025-03-01T00:00:00.000Z'],
      ['2025-03-01T00:00:00.000Z', '2025-04-01T00:00:00.000Z'],
    ]);
    const march = await service.gql(`{ kpiSnapshot(from: "2025-03-01T00:00:00Z", to: "2025-04-01T00:00:00Z", asOf: "2026-01-01T00:00:00Z") { ${fields} } }`);
    expect(series.data.kpiSeries[1]).toEqual(march.data.kpiSnapshot);
    expect(march.data.kpiSnapshot.customers).toBeGreaterThan(0);
  });

  it('refuses a series of more than 120 periods with a clear error', async () => {
    const r = await service.gql('{ kpiSeries(from: "2025-01-01T00:00:00Z", to: "2026-01-01T00:00:00Z", grain: DAY) { from } }');
    expect(r.status).toBe(200);
    expect(r.errors[0].message).toBe('kpiSeries covers at most 120 periods and this window holds 365 DAY periods: choose a coarser grain or a shorter window');
    expect(r.errors[0].extensions.code).toBe('BAD_USER_INPUT');
  });
});
