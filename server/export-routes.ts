// The exports reuse the resolvers' argument checks, whose modules declare type-graphql classes.
import 'reflect-metadata';
import {
  coerceInputValue,
  getNamedType,
  getNullableType,
  GraphQLBoolean,
  GraphQLFloat,
  GraphQLInt,
  isInputObjectType,
  isListType,
  isNonNullType,
  type GraphQLArgument,
  type GraphQLInputType,
} from 'graphql';
import type { Logger } from 'pino';
import { BadInputError } from '../loaders/errors.js';
import { streamCohortCustomers } from '../loaders/retention.loader.js';
import { resolveAtRisk, type AtRiskCustomersArgs } from '../schema/clv-model.resolver.js';
import { createContext, type Context } from '../schema/context.js';
import { resolveCustomerList } from '../schema/customers.resolver.js';
import { getSchema } from '../schema/index.js';
import { resolveCohortCustomers, type CohortCustomersArgs } from '../schema/retention.resolver.js';
import type { Route } from './app.js';
import type { Config } from './config.js';
import { writeCsv, type CsvValue } from './csv.js';
import { sendError, sendKpiError } from './http.js';
import type { EventWriter } from './ingest/writer.js';
import type { Notifier } from './notifications/events.js';
import type { Executor } from './storage/executor.js';

/**
 * One CSV export: the GraphQL query whose arguments it takes (as query parameters, checked by
 * the same resolve functions as the resolver), the arguments it leaves out, its header, and its
 * records in batches.
 */
interface CsvExport {
  field: string;
  omit: readonly string[];
  header: readonly string[];
  records(args: Record<string, any>, ctx: Context): Promise<AsyncIterable<CsvValue[][]>>;
}

const iso = (d: Date | null) => d?.toISOString() ?? null;

async function* single<T>(value: T): AsyncGenerator<T> {
  yield value;
}

/**
 * Pulls the first batch before the answer starts, so that a statement failing at once (the
 * engine refusing it, a timeout) is still answered with its status and JSON error.
 */
async function primed<T>(batches: AsyncIterable<T>): Promise<AsyncIterable<T>> {
  const it = batches[Symbol.asyncIterator]();
  const first = await it.next();
  return (async function* () {
    try {
      if (first.done) return;
      yield first.value;
      for (let next = await it.next(); !next.done; next = await it.next()) yield next.value;
    } finally {
      // A client that left stops the source too: the statement's response is destroyed.
      await it.return?.();
    }
  })();
}

const CUSTOMER_COLUMNS = ['customerId', 'firstPurchaseAt', 'lastPurchaseAt', 'orders', 'revenue', 'country', 'channel', 'segment'];

const EXPORTS: Record<string, CsvExport> = {
  // The whole cell, streamed from the engine: no page.
  'cohort-customers': {
    field: 'cohortCustomers',
    omit: ['first', 'after'],
    header: ['customerId'],
    async records(args, ctx) {
      const { first: _first, after: _after, ...cell } = resolveCohortCustomers(args as CohortCustomersArgs, ctx.now());
      const batches = streamCohortCustomers(ctx.exec, ctx, cell);
      return (async function* () {
        for await (const batch of batches) yield batch.map((r) => [r.customer_id]);
      })();
    },
  },
  // At most MAX_AT_RISK rows (`first`): the list as atRiskCustomers answers it.
  'at-risk': {
    field: 'atRiskCustomers',
    omit: [],
    header: ['customerId', 'historicalRevenue', 'orders', 'frequency', 'recency', 'T', 'lastPurchaseAt', 'probabilityAlive', 'valueAtRisk'],
    async records(args, ctx) {
      const list = await ctx.loaders.atRiskCustomers.load(await resolveAtRisk(args as AtRiskCustomersArgs, ctx));
      return single(
        list.customers.map((c) => [c.customerId, c.historicalRevenue, c.orders, c.frequency, c.recency, c.T, iso(c.lastPurchaseAt), c.probabilityAlive, c.valueAtRisk]),
      );
    },
  },
  // In the order of `ids`; an unknown id keeps its row with empty cells, as GraphQL answers null.
  customers: {
    field: 'customers',
    omit: [],
    header: CUSTOMER_COLUMNS,
    async records(args, ctx) {
      const list = resolveCustomerList(args.ids as string[], args.asOf as Date | undefined, ctx.now());
      const stats = await ctx.loaders.customerStats(list.asOf).loadMany(list.ids);
      return single(
        list.ids.map((id, i) => {
          const s = stats[i];
          if (s instanceof Error) throw s;
          // Revenue per currency as GraphQL's list, JSON in one cell: currencies are never converted.
          // Every row as wide as the header (RFC 4180): an unknown id's cells are empty.
          return s ? [id, iso(s.firstPurchaseAt), iso(s.lastPurchaseAt), s.orders, JSON.stringify(s.revenue), s.country, s.channel, s.segment] : [id, ...CUSTOMER_COLUMNS.slice(1).map(() => null)];
        }),
      );
    },
  },
};

const PATH = /^\/v1\/exports\/([a-z-]+)\.csv$/;

/**
 * A POST carries the same parameters as a form body: 10 000 ids do not fit in a URL (Node reads
 * at most 16 KiB of request line and headers, about 1 400 short ids), and a body is not logged
 * by proxies as a URL is. The limit is GraphQL's (the same 10 000 ids fit both).
 */
const FORM_BODY_LIMIT = 2 * 1024 * 1024;
const FORM = 'application/x-www-form-urlencoded';

/**
 * A query parameter as the JSON value a GraphQL variable of the argument's type would carry, for
 * graphql-js's own coercion to check: numbers and booleans from their text, input objects
 * (`filter`) as JSON, lists from the parameter repeated; text that is none of these stays a
 * string, so coercion refuses it with GraphQL's message.
 */
function variableValue(name: string, texts: string[], type: GraphQLInputType): unknown {
  const nullable = getNullableType(type);
  if (isListType(nullable)) return texts.map((t) => variableValue(name, [t], nullable.ofType));
  if (texts.length > 1) throw new BadInputError(`"${name}" is given ${texts.length} times; it takes one value`, name);
  const text = texts[0]!;
  const named = getNamedType(type);
  if (named === GraphQLInt || named === GraphQLFloat) return text.trim() !== '' && Number.isFinite(Number(text)) ? Number(text) : text;
  if (named === GraphQLBoolean) return text === 'true' ? true : text === 'false' ? false : text;
  if (isInputObjectType(named)) {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new BadInputError(`"${name}" must be a JSON object such as {"country":["DE"]} (got ${JSON.stringify(text.slice(0, 64))})`, name);
    }
  }
  return text;
}

/** The query parameters as the arguments of the export's GraphQL field, coerced by the schema's types; unknown or missing ones are refused. */
async function exportArgs(exp: CsvExport, params: URLSearchParams): Promise<Record<string, unknown>> {
  const field = (await getSchema()).getQueryType()!.getFields()[exp.field]!;
  const taken = field.args.filter((a) => !exp.omit.includes(a.name));
  const names = new Set(taken.map((a) => a.name));
  for (const name of new Set(params.keys())) {
    if (!names.has(name)) throw new BadInputError(`Unknown parameter "${name}"; this export takes ${[...names].join(', ')}`, name);
  }
  const args: Record<string, unknown> = {};
  for (const arg of taken) args[arg.name] = argValue(arg, params.getAll(arg.name));
  return args;
}

function argValue(arg: GraphQLArgument, texts: string[]): unknown {
  if (texts.length === 0) {
    if (arg.defaultValue !== undefined) return arg.defaultValue;
    if (isNonNullType(arg.type)) throw new BadInputError(`"${arg.name}" is required`, arg.name);
    return undefined;
  }
  return coerceInputValue(variableValue(arg.name, texts, arg.type), arg.type, (path, _value, error) => {
    const at = [arg.name, ...path].join('.');
    throw new BadInputError(`"${at}": ${error.message}`, arg.name);
  });
}

export interface ExportDeps {
  config: Config;
  exec: Executor;
  writer: EventWriter;
  /** The requests' context carries it; an export publishes nothing. */
  notifier: Notifier;
  log: Logger;
  now?: () => Date;
}

/**
 * `GET /v1/exports/{cohort-customers|at-risk|customers}.csv?…` (or POST with the parameters as a
 * form body; scope read): the lists of
 * cohortCustomers, atRiskCustomers and customers as CSV for a CRM import. Arguments are checked
 * before the answer starts (400 naming the parameter); once it has started, a failure can only
 * cut the connection, which the client sees as a truncated body (no final chunk).
 */
export function exportRoutes(deps: ExportDeps): Route {
  const now = deps.now ?? (() => new Date());
  return async (req, res, meta) => {
    if (!meta.url.pathname.startsWith('/v1/exports/')) return false;
    const name = PATH.exec(meta.url.pathname)?.[1];
    const exp = name === undefined ? undefined : EXPORTS[name];
    if (!exp) {
      sendError(res, 404, 'NOT_FOUND', `No export at ${meta.url.pathname}; exports are ${Object.keys(EXPORTS).map((n) => `/v1/exports/${n}.csv`).join(', ')}`, meta.requestId);
      return true;
    }
    if (req.method !== 'GET' && req.method !== 'POST') {
      sendError(res, 405, 'METHOD_NOT_ALLOWED', `Use GET ${meta.url.pathname} (or POST with the parameters as a ${FORM} body)`, meta.requestId);
      return true;
    }
    const key = meta.authorize('read');
    if (key === false) return true;
    let params = meta.url.searchParams;
    if (req.method === 'POST') {
      const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      if (type !== FORM || meta.url.search !== '') {
        sendError(res, 415, 'UNSUPPORTED_MEDIA_TYPE', `POST ${meta.url.pathname} takes its parameters as a ${FORM} body, not in the URL (got ${JSON.stringify(type || 'none')})`, meta.requestId);
        req.resume();
        return true;
      }
      params = new URLSearchParams((await meta.readBody(FORM_BODY_LIMIT)).toString('utf8'));
    }
    const controller = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) controller.abort();
    });
    const ctx = createContext({
      requestId: meta.requestId,
      exec: deps.exec,
      writer: deps.writer,
      notifier: deps.notifier,
      config: deps.config,
      key,
      log: meta.log,
      now,
      signal: controller.signal,
    });
    let records: AsyncIterable<CsvValue[][]>;
    try {
      records = await primed(await exp.records(await exportArgs(exp, params), ctx));
    } catch (e) {
      if (sendKpiError(res, e, meta.requestId)) return true;
      throw e;
    }
    res.writeHead(200, {
      'content-type': 'text/csv; charset=utf-8; header=present',
      'content-disposition': `attachment; filename="${name}.csv"`,
      'cache-control': 'no-store',
    });
    try {
      await writeCsv(res, exp.header, records, controller.signal);
      res.end();
    } catch (e) {
      if (!controller.signal.aborted) meta.log.error({ err: e }, 'CSV export failed after it started; connection cut');
      res.destroy();
    }
    return true;
  };
}
