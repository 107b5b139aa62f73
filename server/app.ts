import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { ApolloServer, HeaderMap, type ApolloServerPlugin } from '@apollo/server';
import { unwrapResolverError } from '@apollo/server/errors';
import { ApolloServerPluginCacheControlDisabled, ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { ApolloServerPluginDisableSuggestions } from '@apollo/server/plugin/disableSuggestions';
import { ApolloArmor } from '@escape.tech/graphql-armor';
import type { GraphQLArmorRejectCallback } from '@escape.tech/graphql-armor-types';
import { GraphQLError, Kind, type FragmentDefinitionNode, type GraphQLFormattedError, type SelectionSetNode, type ValidationRule } from 'graphql';
import type { Logger } from 'pino';
import { authenticate, hasScope, identify, isLoopbackHostHeader, type ApiKey, type Scope } from './auth.js';
import type { Config } from './config.js';
import { budgetPlugin } from './budget.js';
import { createContext, type Context } from '../schema/context.js';
import type { Executor } from './storage/executor.js';
import type { EventWriter } from './ingest/writer.js';
import { silentNotifier, type Notifier } from './notifications/events.js';
import { answerClientError, BodyBudget, BodyBudgetExceededError, BodyTooLargeError, readBody, requestUrl, sendError, sendJson, sendKpiError } from './http.js';
import { KpiError } from './storage/errors.js';
import { stringifyYielding } from './json.js';
import { pendingMigrations } from './storage/migrate.js';
import { sharedReadsPlugin } from './shared-reads.js';
import { getSchema } from '../schema/index.js';

const GRAPHQL_BODY_LIMIT = 2 * 1024 * 1024;
const KNOWN_CODES = new Set([
  'BAD_USER_INPUT', 'GRAPHQL_PARSE_FAILED', 'GRAPHQL_VALIDATION_FAILED', 'UNAUTHENTICATED', 'FORBIDDEN',
  'TIMEOUT', 'STORAGE_ERROR', 'PERSISTED_QUERY_NOT_FOUND', 'PERSISTED_QUERY_NOT_SUPPORTED', 'OPERATION_RESOLUTION_FAILURE',
  'BAD_REQUEST', 'QUERY_COST_EXCEEDED',
]);

/** Scope each mutation needs; queries need `read`. Unlisted mutations need `admin`. */
export const MUTATION_SCOPES: Record<string, Scope> = {
  ingestPurchases: 'ingest',
  ingestReferrals: 'ingest',
  ingestSurveyResponses: 'ingest',
  upsertCustomers: 'ingest',
  takeSnapshot: 'admin',
  eraseCustomers: 'admin',
  createWebhook: 'admin',
  deleteWebhook: 'admin',
  createAlert: 'admin',
  updateAlert: 'admin',
  deleteAlert: 'admin',
};

/** Queries that need more than `read`: what they show is the administrator's (spec section 16). */
export const QUERY_SCOPES: Record<string, Scope> = {
  erasures: 'admin',
};

/** The root fields a selection asks for, fragments and inline fragments included. */
function rootFieldNames(set: SelectionSetNode, fragments: Map<string, FragmentDefinitionNode>, seen = new Set<string>()): string[] {
  return set.selections.flatMap((s) => {
    if (s.kind === Kind.FIELD) return [s.name.value];
    if (s.kind === Kind.INLINE_FRAGMENT) return rootFieldNames(s.selectionSet, fragments, seen);
    const f = fragments.get(s.name.value);
    if (!f || seen.has(f.name.value)) return [];
    seen.add(f.name.value);
    return rootFieldNames(f.selectionSet, fragments, seen);
  });
}

export interface AppOptions {
  config: Config;
  exec: Executor;
  writer: EventWriter;
  log: Logger;
  now?: () => Date;
  /** Where resolvers publish events; silent when unset. */
  notifier?: Notifier;
  /** Extra Apollo plugins and routes contributed by feature modules. */
  plugins?: ApolloServerPlugin<Context>[];
  routes?: Route[];
  /** Whether this instance stores writes, shown by GET /readyz (docs/architecture.md, "One writer"). */
  writerRole?: () => WriterRole;
}

/**
 * `writer`: this process stores events (the DATA_DIR lock or the writer lease); `standby`:
 * another instance holds the lease, this one takes over when it expires; `replica`: INGEST=off.
 */
export interface WriterRole {
  role: 'writer' | 'standby' | 'replica';
  detail: string;
}

export type Route = (req: IncomingMessage, res: ServerResponse, meta: RouteMeta) => Promise<boolean> | boolean;

export interface RouteMeta {
  requestId: string;
  url: URL;
  /** Checks the key for a scope and answers 401/403 itself when it fails. */
  authorize(scope: Scope): ApiKey | undefined | false;
  log: Logger;
  /** The whole request body, under the process's budget for unfinished bodies; over `limit` answers 413 (thrown, mapped here). */
  readBody(limit: number): Promise<Buffer>;
}

function scopePlugin(): ApolloServerPlugin<Context> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ operation, contextValue, document }) {
          const key = contextValue.key;
          // Without an operation, execution itself answers that the named operation does not exist.
          if (key === undefined || operation === undefined) return;
          const fragments = new Map(document.definitions.filter((d) => d.kind === Kind.FRAGMENT_DEFINITION).map((d) => [d.name.value, d]));
          const needed: Scope[] =
            operation.operation === 'mutation'
              ? operation.selectionSet.selections.map((s) => (s.kind === 'Field' ? MUTATION_SCOPES[s.name.value] ?? 'admin' : 'admin'))
              : ['read', ...rootFieldNames(operation.selectionSet, fragments).map((name) => QUERY_SCOPES[name] ?? 'read')];
          const missing = needed.find((s) => !hasScope(key, s));
          if (missing) {
            throw new GraphQLError(`This API key lacks the "${missing}" scope`, {
              extensions: { code: 'FORBIDDEN', http: { status: 403 } },
            });
          }
        },
      };
    },
  };
}

/** The request's warnings (loaders/warnings.ts) go out beside the data, in `extensions.warnings`. */
function warningsPlugin(): ApolloServerPlugin<Context> {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ response, contextValue }) {
          const warnings = contextValue.warnings.list();
          if (warnings.length === 0 || response.body.kind !== 'single') return;
          const result = response.body.singleResult;
          result.extensions = { ...result.extensions, warnings };
        },
      };
    },
  };
}

/** graphql-js 16 notices a missing root type only while executing, where it would read as an internal error. */
const knownOperationTypes: ValidationRule = (ctx) => ({
  OperationDefinition(node) {
    if (!ctx.getSchema().getRootType(node.operation)) {
      ctx.reportError(new GraphQLError(`This service does not support ${node.operation} operations.`, { nodes: node }));
    }
  },
});

/**
 * Depth, alias, directive and cost limits run as validation rules. The token limit is graphql-js's own
 * parse option instead of armor's plugin: armor's throws from a plugin hook, which Apollo answers
 * with a 500, while the parser's limit becomes a plain 400 GRAPHQL_PARSE_FAILED after at most
 * `graphqlMaxTokens` tokens, before any validation rule sees the document.
 */
function guardrails(config: Config) {
  // Armor words every refusal as a "Syntax Error:", which sends people hunting for a typo.
  const refuse: GraphQLArmorRejectCallback = (ctx, err) => ctx?.reportError(new GraphQLError(err.message.replace(/^Syntax Error: /, '')));
  const callbacks = { propagateOnRejection: false, onReject: [refuse] };
  const armor = new ApolloArmor({
    maxDepth: { n: config.graphqlMaxDepth, ...callbacks },
    maxAliases: { n: config.graphqlMaxAliases, ...callbacks },
    costLimit: { maxCost: config.graphqlMaxCost, ...callbacks },
    maxDirectives: callbacks,
    maxTokens: { enabled: false },
    blockFieldSuggestion: { enabled: false },
  }).protect();
  // "Did you mean" only reveals field names to those who could not introspect them anyway.
  const plugins = [
    budgetPlugin({ maxRows: config.graphqlMaxResultRows, maxStatements: config.graphqlMaxStatements }),
    ...(config.introspection ? [] : [ApolloServerPluginDisableSuggestions()]),
  ];
  return { plugins, validationRules: armor.validationRules, parseOptions: { maxTokens: config.graphqlMaxTokens } };
}

export interface App {
  server: Server;
  apollo: ApolloServer<Context>;
  listen(): Promise<{ port: number; host: string }>;
  /** Stops accepting, lets in-flight requests finish (up to the grace period), then stops Apollo. */
  close(graceMs?: number): Promise<void>;
}

export async function createApp(opts: AppOptions): Promise<App> {
  const { config, exec, writer, log } = opts;
  const now = opts.now ?? (() => new Date());
  const notifier = opts.notifier ?? silentNotifier;
  const limits = guardrails(config);
  // formatError also runs for errors Apollo raises before any plugin or context exists; this is how it knows the request.
  const requestScope = new AsyncLocalStorage<{ requestId: string; log: Logger }>();
  const apollo = new ApolloServer<Context>({
    schema: await getSchema(),
    introspection: config.introspection,
    includeStacktraceInErrorResponses: false,
    csrfPrevention: true,
    // main.ts drains in-flight HTTP requests before stopping Apollo; Apollo's own handler would stop it first and re-raise the signal.
    stopOnTerminationSignals: false,
    parseOptions: limits.parseOptions,
    stringifyResult: (value) => stringifyYielding(value),
    validationRules: [knownOperationTypes, ...limits.validationRules],
    plugins: [
      ApolloServerPluginLandingPageDisabled(),
      // Its willResolveField hook ran for every field of every row (a 20 000-row answer: 100 000
      // calls on the event loop), for cache hints this service never sets.
      ApolloServerPluginCacheControlDisabled(),
      scopePlugin(),
      warningsPlugin(),
      // After warningsPlugin: a shared answer carries the warnings of the request that ran it.
      sharedReadsPlugin(exec, () => writer.acknowledged, config.graphqlShareWindowMs, () => now().getTime()),
      ...limits.plugins,
      ...(opts.plugins ?? []),
    ],
    formatError(formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError {
      const scope = requestScope.getStore();
      // The layers below raise transport-neutral errors; this is where they become GraphQL's.
      const original = unwrapResolverError(error);
      if (original instanceof KpiError) {
        return {
          message: original.message,
          locations: formatted.locations,
          path: formatted.path,
          extensions: { code: original.code, ...(original.field ? { field: original.field } : {}), requestId: scope?.requestId ?? original.requestId },
        };
      }
      const code = formatted.extensions?.code as string | undefined;
      if (code && KNOWN_CODES.has(code)) {
        const { stacktrace: _s, exception: _e, ...extensions } = formatted.extensions ?? {};
        return { ...formatted, extensions: { ...extensions, requestId: scope?.requestId } };
      }
      // Unknown failures are bugs: log them whole, answer with a reference only.
      (scope?.log ?? log).error({ err: unwrapResolverError(error) }, 'unexpected error in GraphQL execution');
      return {
        message: 'Internal error; the service log has the details.',
        locations: formatted.locations,
        path: formatted.path,
        extensions: { code: 'INTERNAL_SERVER_ERROR', requestId: scope?.requestId },
      };
    },
  });
  await apollo.start();

  const bodyBudget = new BodyBudget(config.http.bodyBufferBytes);
  const inFlight = new Set<ServerResponse>();
  const sockets = new Set<Socket>();
  let closing = false;

  async function handleGraphQL(req: IncomingMessage, res: ServerResponse, url: URL, requestId: string, key: ApiKey | undefined) {
    const headers = new HeaderMap();
    for (const [k, v] of Object.entries(req.headers)) {
      if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(', ') : v);
    }
    let body: unknown = undefined;
    if (req.method === 'POST') {
      const raw = await readBody(req, GRAPHQL_BODY_LIMIT, bodyBudget);
      const type = headers.get('content-type') ?? '';
      if (/^application\/(graphql-response\+)?json/i.test(type) || type === '') {
        try {
          body = raw.length === 0 ? undefined : JSON.parse(raw.toString('utf8'));
        } catch {
          sendJson(res, 400, { errors: [{ message: 'The request body is not valid JSON.', extensions: { code: 'BAD_REQUEST', requestId } }] });
          return;
        }
      } else {
        body = raw.toString('utf8');
      }
    }
    const controller = new AbortController();
    // Every statement in flight listens on it; the statement budget bounds how many (Node warns past 10).
    setMaxListeners(config.graphqlMaxStatements, controller.signal);
    res.on('close', () => {
      if (!res.writableFinished) controller.abort();
    });
    const reqLog = log.child({ requestId });
    const result = await requestScope.run({ requestId, log: reqLog }, () =>
      apollo.executeHTTPGraphQLRequest({
        httpGraphQLRequest: { method: req.method ?? 'GET', headers, search: url.search, body },
        context: async () => {
          const deadline = { at: Date.now() + config.graphqlMaxRequestTimeS * 1000, limitS: config.graphqlMaxRequestTimeS };
          return createContext({ requestId, exec, writer, notifier, config, key, log: reqLog, now, signal: controller.signal, deadline });
        },
      }),
    );
    const outHeaders: Record<string, string> = { 'x-request-id': requestId };
    for (const [k, v] of result.headers) outHeaders[k] = v;
    res.writeHead(result.status ?? 200, outHeaders);
    if (result.body.kind === 'complete') {
      res.end(result.body.string);
    } else {
      for await (const chunk of result.body.asyncIterator) res.write(chunk);
      res.end();
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const requestId = sanitizeRequestId(req.headers['x-request-id']) ?? randomUUID();
    res.setHeader('x-request-id', requestId);
    const url = requestUrl(req.url);
    const started = performance.now();
    const reqLog = log.child({ requestId });
    res.on('finish', () => {
      reqLog.info({ method: req.method, path: url.pathname, status: res.statusCode, ms: Math.round(performance.now() - started) }, 'request');
    });
    const authorize = (scope: Scope): ApiKey | undefined | false => {
      const r = authenticate(config.apiKeys, req.headers.authorization, scope);
      if (r.ok) return r.key;
      sendError(res, r.status, r.status === 401 ? 'UNAUTHENTICATED' : 'FORBIDDEN', r.message, requestId);
      return false;
    };
    // Open mode: only requests addressed to a loopback name, whatever the route (DNS rebinding).
    if (config.apiKeys.length === 0 && !isLoopbackHostHeader(req.headers.host)) {
      sendError(
        res,
        403,
        'FORBIDDEN_HOST',
        `Host ${JSON.stringify(req.headers.host ?? '')} is not a loopback name: a service without API_KEYS answers only requests addressed to localhost, 127.0.0.1 or [::1].`,
        requestId,
      );
      return;
    }
    try {
      if (url.pathname === '/healthz' && req.method === 'GET') {
        sendJson(res, 200, { status: closing ? 'stopping' : 'ok' });
        return;
      }
      if (url.pathname === '/readyz' && req.method === 'GET') {
        await ready(res);
        return;
      }
      for (const route of opts.routes ?? []) {
        if (await route(req, res, { requestId, url, authorize, log: reqLog, readBody: (limit) => readBody(req, limit, bodyBudget) })) return;
      }
      if (url.pathname === '/graphql') {
        // Any valid key may talk GraphQL; the operation's own scope is checked once it is parsed.
        const key = identify(config.apiKeys, req.headers.authorization);
        if (key === 'missing' || key === 'invalid') {
          const message = key === 'missing' ? 'Missing or malformed API key: send "Authorization: Bearer <key>"' : 'Invalid API key';
          sendJson(res, 401, { errors: [{ message, extensions: { code: 'UNAUTHENTICATED', requestId } }] }, { 'www-authenticate': 'Bearer' });
          return;
        }
        await handleGraphQL(req, res, url, requestId, key ?? undefined);
        return;
      }
      sendError(res, 404, 'NOT_FOUND', `No route for ${req.method} ${url.pathname}`, requestId);
    } catch (e) {
      if (e instanceof BodyTooLargeError) {
        if (!res.headersSent) sendError(res, 413, 'PAYLOAD_TOO_LARGE', e.message, requestId);
        req.resume();
        return;
      }
      if (e instanceof BodyBudgetExceededError) {
        // Closing frees the connection's share at once instead of draining the rest of its body.
        if (!res.headersSent) sendError(res, 503, 'SERVICE_BUSY', e.message, requestId, { connection: 'close', 'retry-after': '1' });
        return;
      }
      // The body timed out (answered 408 below) or the client went away: nothing left to answer.
      if (res.writableEnded || req.socket.destroyed) return;
      if (sendKpiError(res, e, requestId)) return;
      reqLog.error({ err: e }, 'request failed');
      if (!res.headersSent) sendError(res, 500, 'INTERNAL', `Internal error (request id ${requestId})`, requestId);
      else res.destroy();
    }
  }

  async function ready(res: ServerResponse) {
    try {
      const pending = await pendingMigrations(exec);
      if (pending > 0) {
        sendJson(res, 503, { status: 'not ready', reason: `${pending} migration(s) not applied` });
        return;
      }
      // Not ready while writes fail or a state is being repaired: the KPIs may not be exact.
      const { problem, lastCheck } = writer.health();
      if (problem) writer.retryRepair();
      const states = { ...(opts.writerRole && { writer: opts.writerRole() }), ...(lastCheck && { stateCheck: lastCheck }) };
      // Ready means the store takes writes (README): not while every write would be refused.
      const reason = problem ?? writer.writesRefused();
      if (reason && !closing) {
        sendJson(res, 503, { status: 'not ready', reason, ...states });
        return;
      }
      sendJson(res, closing ? 503 : 200, { status: closing ? 'stopping' : 'ready', storage: exec.storage.mode, version: exec.storage.version, ...states });
    } catch {
      sendJson(res, 503, { status: 'not ready', reason: 'storage unreachable' });
    }
  }

  const { http } = config;
  // Node checks the header and request deadlines on this interval; a small one keeps them close to what is configured.
  const checkEveryMs = Math.max(5, Math.min(1_000, Math.floor(http.headersTimeoutMs / 4)));
  const server = createServer({ connectionsCheckingInterval: checkEveryMs }, (req, res) => {
    inFlight.add(res);
    res.on('close', () => inFlight.delete(res));
    if (closing) res.setHeader('connection', 'close');
    res.on('timeout', () => bodyIdle(req, res));
    void handle(req, res);
  });
  /**
   * The socket saw no byte for HTTP_BODY_IDLE_TIMEOUT_MS. Only a body the client stopped
   * sending is its fault: while bytes wait unread in the request, the service is the slow
   * side (an insert holding the stream back), and a finished request is being answered.
   */
  function bodyIdle(req: IncomingMessage, res: ServerResponse) {
    if (req.complete || req.readableLength > 0) return;
    log.info({ path: req.url, idleMs: http.bodyIdleTimeoutMs }, 'request body idle: closing the connection');
    if (res.headersSent) {
      req.socket.destroy();
      return;
    }
    const requestId = String(res.getHeader('x-request-id') ?? '');
    const seconds = http.bodyIdleTimeoutMs / 1000;
    sendError(res, 408, 'REQUEST_TIMEOUT', `No byte of the request body arrived for ${seconds} s (HTTP_BODY_IDLE_TIMEOUT_MS); closing the connection.`, requestId, { connection: 'close' });
  }
  server.on('clientError', answerClientError);
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.headersTimeout = http.headersTimeoutMs;
  // Generous: the whole of a 256 MiB ingest body must fit (README, "Configuration"). Past it, 408 (answerClientError).
  server.requestTimeout = http.requestTimeoutMs;
  // The socket's inactivity timer: with the response's 'timeout' listener above it never closes a busy request by itself.
  server.timeout = http.bodyIdleTimeoutMs;
  server.keepAliveTimeout = http.keepAliveTimeoutMs;

  return {
    server,
    apollo,
    listen: () =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(config.port, config.host, () => {
          const a = server.address();
          resolve({ port: typeof a === 'object' && a ? a.port : config.port, host: config.host });
        });
      }),
    async close(graceMs = 25_000) {
      closing = true;
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const deadline = Date.now() + graceMs;
      while (inFlight.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
      for (const s of sockets) s.destroy();
      await stopped;
      await apollo.stop();
    },
  };
}

function sanitizeRequestId(v: string | string[] | undefined): string | undefined {
  return typeof v === 'string' && /^[A-Za-z0-9._-]{1,64}$/.test(v) ? v : undefined;
}
