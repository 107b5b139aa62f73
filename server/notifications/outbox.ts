import { randomUUID } from 'node:crypto';
import { BadInputError } from '../../loaders/errors.js';
import type { IdSet } from '../storage/erase.js';
import type { Executor, QueryContext } from '../storage/executor.js';
import type { BatchNotifier, NotificationEvent } from './events.js';
import { ISO_DATES, listWebhooks } from './webhooks.js';

export type DeliveryStatus = 'PENDING' | 'DELIVERED' | 'GAVE_UP';

/** One delivery's latest state, as the log shows it and the worker resumes it. */
export interface Delivery {
  id: string;
  webhookId: string;
  event: NotificationEvent;
  status: DeliveryStatus;
  /** Attempts made so far (0 while it waits for its first). */
  attempts: number;
  createdAt: Date;
  nextAttemptAt: Date | null;
  lastStatusCode: number | null;
  lastError: string | null;
  /** At most RESPONSE_BODY_BYTES of the receiver's last answer. */
  responseBody: string | null;
  /** The JSON document POSTed: `{ id, event, createdAt, data }`. */
  body: string;
  /** Customers the body names, kept beside it so an erasure finds it. */
  customerIds: string[];
}

/** What one attempt came to. */
export interface AttemptOutcome {
  status: DeliveryStatus;
  statusCode: number | null;
  error: string | null;
  responseBody: string | null;
  nextAttemptAt: Date | null;
}

const TABLE = 'webhook_deliveries';

/**
 * How an erasure (server/ingest/erasures.ts, spec section 16) finds the deliveries naming any of
 * `{ids:Array(String)}`, and every customer id deliveries name; it deletes those rows whole.
 */
export const DELIVERIES_OF_CUSTOMERS = { table: TABLE, where: (set: IdSet) => `hasAny(customer_ids, ${set.array})`, ids: `SELECT arrayJoin(customer_ids) AS k FROM {db:Identifier}.${TABLE}` };

/** The customers a payload names: `customerId` (survey.detractor) and `customers[].customerId` (customer.at_risk). */
export function customerIdsOf(payload: Record<string, unknown>): string[] {
  const ids = typeof payload.customerId === 'string' ? [payload.customerId] : [];
  if (Array.isArray(payload.customers)) {
    for (const c of payload.customers as unknown[]) {
      const id = (c as { customerId?: unknown } | null)?.customerId;
      if (typeof id === 'string') ids.push(id);
    }
  }
  return ids;
}

interface StateRow {
  id: string;
  webhook_id: string;
  event: NotificationEvent;
  attempts: number;
  created_ms: number;
  body: string;
  customer_ids: string[];
  last: [DeliveryStatus, number | null, number | null, string, string];
}

// A delivery's state is its row of the highest seq; the tuple keeps the columns of that one row
// together (argMax over a Nullable column alone would skip its NULLs and pick an older row).
// `first_seq` 0 marks a delivery whose queued row exists: an attempt recorded while an erasure
// deleted the delivery leaves a row without its body, which is neither sent nor listed.
const STATE = `
  SELECT id, webhook_id, min(seq) AS first_seq, any(event) AS event, max(seq) AS attempts, toUnixTimestamp64Milli(min(created_at)) AS created_ms,
         anyIf(body, seq = 0) AS body, any(customer_ids) AS customer_ids,
         argMax(tuple(status, toUnixTimestamp64Milli(next_attempt_at), status_code, error, response_body), seq) AS last
  FROM {db:Identifier}.webhook_deliveries`;

function shape(r: StateRow): Delivery {
  const [status, nextMs, statusCode, error, responseBody] = r.last;
  return {
    id: r.id,
    webhookId: r.webhook_id,
    event: r.event,
    status,
    attempts: r.attempts,
    createdAt: new Date(r.created_ms),
    nextAttemptAt: nextMs === null ? null : new Date(nextMs),
    lastStatusCode: statusCode,
    lastError: error === '' ? null : error,
    responseBody: r.attempts === 0 ? null : responseBody,
    body: r.body,
    customerIds: r.customer_ids,
  };
}

export interface DeliveryPage {
  deliveries: Delivery[];
  hasNextPage: boolean;
}

/**
 * The durable outbox behind the Notifier interface: `publish` stores one delivery per subscribed
 * webhook (the row of seq 0) and returns once that is stored; the delivery worker
 * (server/webhook-worker.ts) is told through `onQueued` and sends them. Deliveries are
 * at-least-once: an attempt whose outcome was not recorded (a crash) is made again.
 */
export class WebhookOutbox implements BatchNotifier {
  private readonly queued: (() => void)[] = [];

  /**
   * On a cluster the table is Distributed, whose inserts are queued on the node and sent on
   * later by default: waited for instead, so a stored delivery is on its shard and the worker's
   * next read sees it.
   */
  private readonly settings: Record<string, string | number>;

  constructor(
    private readonly exec: Executor,
    private readonly now: () => Date,
  ) {
    this.settings = exec.storage.cluster === undefined ? { ...ISO_DATES } : { ...ISO_DATES, insert_distributed_sync: 1 };
  }

  /** Called after each publish that stored deliveries (the worker wakes up). */
  onQueued(fn: () => void): void {
    this.queued.push(fn);
  }

  publish(event: NotificationEvent, payload: Record<string, unknown>, ctx: { requestId: string }): Promise<void> {
    return this.publishAll([{ event, payload }], ctx);
  }

  async publishAll(events: readonly { event: NotificationEvent; payload: Record<string, unknown> }[], ctx: { requestId: string }): Promise<void> {
    if (events.length === 0) return;
    const hooks = await listWebhooks(this.exec, ctx);
    const createdAt = this.now().toISOString();
    const rows = events.flatMap(({ event, payload }) => {
      const customerIds = customerIdsOf(payload);
      // An alert names the webhooks it notifies (docs/alerts.md); they get its events beside the
      // webhooks subscribed to them.
      const named = Array.isArray(payload.webhookIds) ? (payload.webhookIds as unknown[]) : [];
      return hooks
        .filter((h) => h.events.includes(event) || named.includes(h.id))
        .map((h) => {
          const id = randomUUID();
          return {
            id,
            webhook_id: h.id,
            event,
            seq: 0,
            status: 'PENDING',
            body: JSON.stringify({ id, event, createdAt, data: payload }),
            customer_ids: customerIds,
            created_at: createdAt,
            recorded_at: createdAt,
            next_attempt_at: createdAt,
            status_code: null,
            error: '',
            response_body: '',
          };
        });
    });
    if (rows.length === 0) return;
    await this.exec.insert(TABLE, rows, ctx, this.settings);
    for (const fn of this.queued) fn();
  }

  async published(events: readonly NotificationEvent[], eventIds: readonly string[], ctx: { requestId: string }): Promise<Map<string, Record<string, unknown>>> {
    if (eventIds.length === 0) return new Map();
    // The body of a delivery's first row is the document sent; its webhooks got the same data.
    const rows = await this.exec.rows<{ eventId: string; document: string }>(
      {
        query: `SELECT JSONExtractString(body, 'data', 'eventId') AS eventId, any(body) AS document FROM {db:Identifier}.${TABLE}
                WHERE seq = 0 AND event IN {events:Array(String)} AND eventId IN {ids:Array(String)} GROUP BY eventId`,
        query_params: { events: [...events], ids: [...eventIds] },
      },
      ctx,
    );
    return new Map(rows.map((r) => [r.eventId, (JSON.parse(r.document) as { data: Record<string, unknown> }).data]));
  }

  /** Appends the outcome of attempt number `delivery.attempts + 1`. */
  async record(delivery: Delivery, outcome: AttemptOutcome, ctx: QueryContext): Promise<void> {
    const row = {
      id: delivery.id,
      webhook_id: delivery.webhookId,
      event: delivery.event,
      seq: delivery.attempts + 1,
      status: outcome.status,
      body: '',
      customer_ids: delivery.customerIds,
      created_at: delivery.createdAt.toISOString(),
      recorded_at: this.now().toISOString(),
      next_attempt_at: outcome.nextAttemptAt?.toISOString() ?? null,
      status_code: outcome.statusCode,
      error: outcome.error ?? '',
      response_body: outcome.responseBody ?? '',
    };
    await this.exec.insert(TABLE, [row], ctx, this.settings);
  }

  /** Pending deliveries whose next attempt is due at `at`, the longest waiting first. */
  async due(at: Date, limit: number, ctx: QueryContext): Promise<Delivery[]> {
    const rows = await this.exec.rows<StateRow>(
      {
        query: `${STATE} GROUP BY id, webhook_id HAVING first_seq = 0 AND last.1 = 'PENDING' AND last.2 <= {at:Int64} ORDER BY last.2, id LIMIT {limit:UInt32}`,
        query_params: { at: at.getTime(), limit },
      },
      ctx,
    );
    return rows.map(shape);
  }

  /** When the earliest pending delivery is due, or undefined when none is pending. */
  async nextDue(ctx: QueryContext): Promise<Date | undefined> {
    const [row] = await this.exec.rows<{ next: number | null }>(
      { query: `SELECT min(last.2) AS next FROM (${STATE} GROUP BY id, webhook_id HAVING first_seq = 0 AND last.1 = 'PENDING')`, query_params: {} },
      ctx,
    );
    return row?.next == null ? undefined : new Date(row.next);
  }
}

/** A webhook's deliveries, newest first; `after` is the id of the last delivery of the previous page. */
export async function deliveryLog(exec: Executor, webhookId: string, first: number, after: string | null, ctx: QueryContext): Promise<DeliveryPage> {
  // A cursor that names none of the webhook's deliveries would read as the end of the log.
  if (after !== null) {
    const [known] = await exec.rows<{ n: number }>(
      { query: `SELECT count() AS n FROM {db:Identifier}.${TABLE} WHERE webhook_id = {webhook:String} AND id = {after:String}`, query_params: { webhook: webhookId, after } },
      ctx,
    );
    if (!known?.n) throw new BadInputError('"after" is not a cursor returned by webhookDeliveries for this webhook', 'after');
  }
  const rows = await exec.rows<StateRow>(
    {
      query: `SELECT * FROM (${STATE} WHERE webhook_id = {webhook:String} GROUP BY id, webhook_id)
              WHERE {after:String} = '' OR (created_ms, id) < (SELECT toUnixTimestamp64Milli(min(created_at)), {after:String} FROM {db:Identifier}.webhook_deliveries WHERE webhook_id = {webhook:String} AND id = {after:String})
              ORDER BY created_ms DESC, id DESC LIMIT {limit:UInt32}`,
      query_params: { webhook: webhookId, after: after ?? '', limit: first + 1 },
    },
    ctx,
  );
  return { deliveries: rows.slice(0, first).map(shape), hasNextPage: rows.length > first };
}
