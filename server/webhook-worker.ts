import type { Logger } from 'pino';
import type { AllowedHosts } from './notifications/allowed-hosts.js';
import { attempt } from './notifications/delivery.js';
import type { AttemptOutcome, Delivery, WebhookOutbox } from './notifications/outbox.js';
import { listWebhooks, type SigningWebhook } from './notifications/webhooks.js';
import type { Executor } from './storage/executor.js';
import type { Clock } from './snapshots/scheduler.js';

/** Deliveries sent at once; the next batch starts when this one is recorded. */
const BATCH = 20;
/** A run that failed (storage down) or was left to another instance (a standby) looks again after this. */
const RECHECK_MS = 60_000;

export interface WebhookWorkerDeps {
  exec: Executor;
  outbox: WebhookOutbox;
  log: Logger;
  clock: Clock;
  allowed: AllowedHosts;
  timeoutMs: number;
  /** Throws when this instance must not write (a standby, a read replica): the writer delivers. */
  mayWrite?: (requestId: string) => void;
}

export interface WebhookWorker {
  /** Resolves once no run is in progress (tests wait for deliveries with it). */
  idle(): Promise<void>;
  /** Cancels the next run and waits for the one in progress. */
  stop(): Promise<void>;
}

/**
 * Sends the outbox's due deliveries and records each attempt (docs/webhooks.md, "Delivery"). It
 * keeps nothing in memory between runs: each run reads what is due from ClickHouse and sets one
 * timer, on the injectable clock, for the earliest pending delivery; so a restart resumes where
 * the previous process stopped. A publish wakes it at once.
 */
export async function startWebhookWorker(deps: WebhookWorkerDeps): Promise<WebhookWorker> {
  const { clock, log, outbox } = deps;
  const ctx = { requestId: 'webhooks' };
  let stopped = false;
  let again = false;
  let running: Promise<void> | undefined;
  let cancel: (() => void) | undefined;

  async function deliver(d: Delivery, hooks: Map<string, SigningWebhook>): Promise<void> {
    const hook = hooks.get(d.webhookId);
    const outcome: AttemptOutcome =
      hook === undefined
        ? { status: 'GAVE_UP', statusCode: null, error: 'not sent: the webhook was deleted', responseBody: null, nextAttemptAt: null }
        : await attempt(d, hook, { allowed: deps.allowed, timeoutMs: deps.timeoutMs, now: clock.now() });
    await outbox.record(d, outcome, ctx);
    if (outcome.status !== 'DELIVERED') log.warn({ delivery: d.id, webhook: d.webhookId, event: d.event, attempt: d.attempts + 1, status: outcome.status, error: outcome.error }, 'webhook delivery failed');
  }

  async function run(): Promise<void> {
    let next: Date | undefined;
    try {
      deps.mayWrite?.(ctx.requestId);
    } catch {
      arm(new Date(clock.now().getTime() + RECHECK_MS));
      return;
    }
    try {
      const hooks = new Map((await listWebhooks(deps.exec, ctx)).map((h) => [h.id, h]));
      let batch: Delivery[];
      do {
        batch = await outbox.due(clock.now(), BATCH, ctx);
        await Promise.all(batch.map((d) => deliver(d, hooks)));
      } while (batch.length === BATCH && !stopped);
      next = await outbox.nextDue(ctx);
    } catch (err) {
      log.error({ err }, 'webhook deliveries could not be read or recorded; trying again later');
      next = new Date(clock.now().getTime() + RECHECK_MS);
    }
    arm(next);
  }

  function arm(at: Date | undefined): void {
    cancel?.();
    cancel = undefined;
    if (stopped || at === undefined) return;
    cancel = clock.setTimer(Math.max(0, at.getTime() - clock.now().getTime()), wake);
  }

  function wake(): void {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    again = false;
    // A publish during a run may have come after its last read: one more run picks it up.
    running = run().finally(() => {
      running = undefined;
      if (again) wake();
    });
  }

  outbox.onQueued(wake);
  // The start only reads when the next pending delivery is due, and waits for that read: what
  // the previous process left is resumed on the clock, and no delivery holds up the start.
  arm(await outbox.nextDue(ctx).catch((err: unknown) => {
    log.error({ err }, 'pending webhook deliveries could not be read; trying again later');
    return new Date(clock.now().getTime() + RECHECK_MS);
  }));
  return {
    async idle() {
      while (running) await running;
    },
    async stop() {
      stopped = true;
      cancel?.();
      await running;
    },
  };
}
