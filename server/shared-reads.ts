import type { ApolloServerPlugin, GraphQLResponse } from '@apollo/server';
import { HeaderMap } from '@apollo/server';
import type { FormattedExecutionResult } from 'graphql';
import type { Context } from '../schema/context.js';
import type { Executor } from './storage/executor.js';

/** Names the request whose execution a shared answer came from (docs/architecture.md, "Shared reads"). */
export const SHARED_ANSWER_HEADER = 'x-shared-answer';

type Answer = FormattedExecutionResult | undefined;

interface Running {
  generation: number;
  startedAt: number;
  requestId: string;
  answer: Promise<Answer>;
}

export type Turn = { lead: true; settle(answer: Answer): void } | { lead: false; requestId: string; answer: Promise<Answer> };

/**
 * Identical reads in flight run once. A Grafana board sends one document for several panels at
 * the same instant (the executive board: eight panels of one kpiSeries, each 12 snapshots), and
 * every request used to compute it again. A request joins a running one when both come from the
 * same API key with the same document, operation and variables, it arrives within `windowMs` of
 * the running one's start, and this process stored nothing in between (`generation` counts its
 * writes). Its answer is then as of the running request's time: at most `windowMs` earlier, and
 * never missing a write this process had acknowledged when the request came. Only running
 * requests are shared: a finished answer is never kept. A failed (or partly failed) answer is not
 * shared either: each waiting request then runs itself and gets its own errors and request id.
 */
export class SharedReads {
  private readonly running = new Map<string, Running>();

  constructor(
    private readonly windowMs: number,
    private readonly now: () => number,
  ) {}

  /** Whether this request leads (runs, then settles) or joins the running one's answer. */
  turn(key: string, generation: number, requestId: string): Turn {
    const current = this.running.get(key);
    const at = this.now();
    if (current && current.generation === generation && at - current.startedAt <= this.windowMs) {
      return { lead: false, requestId: current.requestId, answer: current.answer };
    }
    let settle!: (answer: Answer) => void;
    const answer = new Promise<Answer>((resolve) => (settle = resolve));
    const mine: Running = { generation, startedAt: at, requestId, answer };
    this.running.set(key, mine);
    return {
      lead: true,
      settle: (a) => {
        if (this.running.get(key) === mine) this.running.delete(key);
        settle(a);
      },
    };
  }

  /** Requests running now that others may join (tests, metrics). */
  get size(): number {
    return this.running.size;
  }
}

/**
 * The Apollo side of SharedReads: queries only (a mutation always runs), after the scope check
 * (didResolveOperation) and before execution. `generation` is bumped by every statement of this
 * process that is not a read, and by every group of events acknowledged before its inserts
 * (`acknowledged`, EventWriter with its ingest log): a query sent after that acknowledgement
 * must not take the answer of one that began before it.
 */
export function sharedReadsPlugin(exec: Executor, acknowledged: () => number, windowMs: number, now: () => number): ApolloServerPlugin<Context> {
  const shared = new SharedReads(windowMs, now);
  let generation = 0;
  exec.observe(({ query }) => {
    if (!/^\s*(SELECT|WITH)\b/i.test(query)) generation++;
  });
  return {
    async requestDidStart() {
      let leading: Extract<Turn, { lead: true }> | undefined;
      return {
        async responseForOperation({ operation, request, contextValue }): Promise<GraphQLResponse | null> {
          if (windowMs <= 0 || operation.operation !== 'query') return null;
          const key = JSON.stringify([contextValue.key?.name ?? null, request.http?.headers.get('accept') ?? null, request.operationName ?? null, request.query, request.variables ?? null]);
          const turn = shared.turn(key, generation + acknowledged(), contextValue.requestId);
          if (turn.lead) {
            leading = turn;
            return null;
          }
          const answer = await untilAborted(turn.answer, contextValue.signal);
          if (answer === undefined) return null;
          const headers = new HeaderMap([[SHARED_ANSWER_HEADER, turn.requestId]]);
          // A copy: later plugins (warnings) may set fields on the result they send.
          return { http: { status: undefined, headers }, body: { kind: 'single', singleResult: { ...answer } } };
        },
        async willSendResponse({ response }) {
          if (!leading) return;
          const ok = response.body.kind === 'single' && (response.body.singleResult.errors?.length ?? 0) === 0 && (response.http.status ?? 200) === 200;
          leading.settle(ok && response.body.kind === 'single' ? { ...response.body.singleResult } : undefined);
          leading = undefined;
        },
      };
    },
  };
}

/** The running answer, or undefined as soon as this request's client has gone (it then runs, and stops, itself). */
function untilAborted(answer: Promise<Answer>, signal: AbortSignal | undefined): Promise<Answer> {
  if (!signal) return answer;
  if (signal.aborted) return Promise.resolve(undefined);
  return new Promise<Answer>((resolve) => {
    const stop = () => resolve(undefined);
    signal.addEventListener('abort', stop, { once: true });
    void answer.then(resolve).finally(() => signal.removeEventListener('abort', stop));
  });
}
