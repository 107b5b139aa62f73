import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';

export * from './generated/graphql.js';

export interface KpiClientOptions {
  /** The GraphQL endpoint, e.g. `http://kpi:4000/graphql`. */
  url: string;
  /** Sent as `Authorization: Bearer <apiKey>`; leave out for an open loopback service. */
  apiKey?: string;
  fetch?: typeof fetch;
  /** Called with `extensions.warnings` of an answer that has any: data that is right but probably not what was meant. */
  onWarnings?: (warnings: KpiWarning[]) => void;
}

/** One entry of `extensions.warnings` (docs/kpis.md, "Warnings"). */
export interface KpiWarning {
  code: string;
  message: string;
  field: string;
  knownValues: string[];
}

export interface KpiClientErrorEntry {
  message: string;
  path?: (string | number)[];
  extensions?: { code?: string; requestId?: string; [key: string]: unknown };
}

/** A request the service answered with errors (or with a non-GraphQL failure, as `HTTP_<status>`). */
export class KpiClientError extends Error {
  override name = 'KpiClientError';
  constructor(
    readonly status: number,
    readonly errors: KpiClientErrorEntry[],
  ) {
    super(errors.map((e) => (e.extensions?.code ? `${e.extensions.code}: ${e.message}` : e.message)).join('; '));
  }

  /** The first error's code, e.g. BAD_USER_INPUT, FORBIDDEN, TIMEOUT. */
  get code(): string | undefined {
    return this.errors[0]?.extensions?.code;
  }
}

/** Operations without variables may leave them out; the others must pass exactly their variables' type. */
type VariablesArg<V> = Record<string, never> extends V ? [variables?: V] : [variables: V];

export interface KpiClient {
  request<R, V extends Record<string, unknown>>(document: TypedDocumentNode<R, V>, ...variables: VariablesArg<V>): Promise<R>;
}

/** A typed client over the operations in client/operations (see docs/client.md). */
export function createKpiClient(options: KpiClientOptions): KpiClient {
  const doFetch = options.fetch ?? fetch;
  const printed = new WeakMap<object, string>();
  return {
    async request(document, ...[variables]) {
      let query = printed.get(document);
      if (query === undefined) printed.set(document, (query = print(document)));
      const res = await doFetch(options.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/graphql-response+json, application/json',
          ...(options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {}),
        },
        body: JSON.stringify({ query, variables }),
      });
      const text = await res.text();
      let body: { data?: unknown; errors?: KpiClientErrorEntry[]; extensions?: { warnings?: KpiWarning[] } };
      try {
        body = JSON.parse(text) as typeof body;
      } catch {
        throw new KpiClientError(res.status, [{ message: text.slice(0, 500), extensions: { code: `HTTP_${res.status}` } }]);
      }
      if (body.errors?.length) throw new KpiClientError(res.status, body.errors);
      if (!res.ok || body.data === undefined || body.data === null) {
        throw new KpiClientError(res.status, [{ message: `HTTP ${res.status} without data`, extensions: { code: `HTTP_${res.status}` } }]);
      }
      if (body.extensions?.warnings?.length) options.onWarnings?.(body.extensions.warnings);
      return body.data as never;
    },
  };
}
