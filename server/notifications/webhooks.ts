import { randomBytes, randomUUID } from 'node:crypto';
import { KpiError } from '../storage/errors.js';
import type { Executor, QueryContext } from '../storage/executor.js';
import { urlProblem, type AllowedHosts } from './allowed-hosts.js';
import { NOTIFICATION_EVENTS, type NotificationEvent } from './events.js';

export const WEBHOOK_FORMATS = ['JSON', 'SLACK'] as const;
export type WebhookFormat = (typeof WEBHOOK_FORMATS)[number];

export interface Webhook {
  id: string;
  url: string;
  events: NotificationEvent[];
  format: WebhookFormat;
  createdAt: Date;
}

/** What the delivery worker needs besides the public fields: the key it signs with. */
export interface SigningWebhook extends Webhook {
  secret: string;
}

const WEBHOOKS_TABLE = 'webhooks';
/** Times go in as ISO 8601 and come out as epoch milliseconds: no text format to agree on. */
export const ISO_DATES = { date_time_input_format: 'best_effort' } as const;

/** At most this many webhooks may exist: each event fans out to every subscriber inside `publish`. */
export const MAX_WEBHOOKS = 100;

function badInput(message: string, field: string): KpiError {
  return new KpiError(message, 'BAD_USER_INPUT', field);
}

/** Every value checked before anything is stored; the messages name the argument and the value at fault. */
export function checkWebhook(url: string, events: readonly string[], allowed: AllowedHosts): { url: string; events: NotificationEvent[] } {
  const problem = urlProblem(url, allowed);
  if (problem !== undefined) throw badInput(`"url": ${problem}`, 'url');
  if (events.length === 0) throw badInput(`"events" is empty: name at least one of ${NOTIFICATION_EVENTS.join(', ')}`, 'events');
  const unknown = events.find((e) => !(NOTIFICATION_EVENTS as readonly string[]).includes(e));
  if (unknown !== undefined) throw badInput(`"events": "${unknown}" is not an event; the events are ${NOTIFICATION_EVENTS.join(', ')}`, 'events');
  return { url: new URL(url).href, events: [...new Set(events)] as NotificationEvent[] };
}

interface Row {
  id: string;
  url: string;
  events: string[];
  format: WebhookFormat;
  secret: string;
  created_ms: number;
}

function shape(r: Row): SigningWebhook {
  return { id: r.id, url: r.url, events: r.events as NotificationEvent[], format: r.format, secret: r.secret, createdAt: new Date(r.created_ms) };
}

/** Live webhooks, oldest first; `event` narrows them to its subscribers. */
export async function listWebhooks(exec: Executor, ctx: QueryContext, event?: NotificationEvent): Promise<SigningWebhook[]> {
  const rows = await exec.rows<Row>(
    {
      query: `SELECT id, url, events, format, secret, toUnixTimestamp64Milli(created_at) AS created_ms FROM {db:Identifier}.webhooks FINAL
              WHERE deleted = 0 AND ({event:String} = '' OR has(events, {event:String})) ORDER BY created_at, id`,
      query_params: { event: event ?? '' },
    },
    ctx,
  );
  return rows.map(shape);
}

/** Stores a webhook and returns it with its new secret, which is shown this once. */
export async function createWebhook(
  exec: Executor,
  ctx: QueryContext,
  input: { url: string; events: readonly string[]; format: WebhookFormat },
  allowed: AllowedHosts,
  now: Date,
): Promise<SigningWebhook> {
  const { url, events } = checkWebhook(input.url, input.events, allowed);
  if ((await listWebhooks(exec, ctx)).length >= MAX_WEBHOOKS) throw badInput(`There are already ${MAX_WEBHOOKS} webhooks, the most allowed: delete one first`, 'url');
  const hook: SigningWebhook = { id: randomUUID(), url, events, format: input.format, secret: randomBytes(32).toString('hex'), createdAt: now };
  await write(exec, ctx, hook, 0, now);
  return hook;
}

/** Deletes a webhook: its pending deliveries are given up at their next attempt. False when there was none. */
export async function deleteWebhook(exec: Executor, ctx: QueryContext, id: string, now: Date): Promise<boolean> {
  const hook = (await listWebhooks(exec, ctx)).find((h) => h.id === id);
  if (hook === undefined) return false;
  await write(exec, ctx, hook, 1, now);
  return true;
}

async function write(exec: Executor, ctx: QueryContext, hook: SigningWebhook, deleted: 0 | 1, now: Date): Promise<void> {
  // The version orders the changes of one webhook; the clock's milliseconds, made to exceed the
  // creation's, so a deletion at the very same millisecond still replaces it.
  const version = Math.max(now.getTime(), hook.createdAt.getTime()) * 2 + deleted;
  await exec.insert(
    WEBHOOKS_TABLE,
    [{ id: hook.id, url: hook.url, events: hook.events, format: hook.format, secret: hook.secret, created_at: hook.createdAt.toISOString(), deleted, version }],
    ctx,
    ISO_DATES,
  );
}
