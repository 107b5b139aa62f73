import { createHmac } from 'node:crypto';
import { urlProblem, type AllowedHosts } from './allowed-hosts.js';
import type { AttemptOutcome, Delivery } from './outbox.js';
import type { SigningWebhook } from './webhooks.js';

/** Bytes of a receiver's answer kept in the delivery log; the rest is never read. */
export const RESPONSE_BODY_BYTES = 1024;
/** The first retry waits this long; each next one twice as long as the previous. */
export const FIRST_RETRY_MS = 30_000;
/** A delivery's last attempt is made this long after its event; failing, it is given up. */
export const DELIVERY_WINDOW_MS = 24 * 3600_000;

/** The headers every delivery carries (docs/webhooks.md, "Headers"). */
export const HEADERS = {
  timestamp: 'X-Webhook-Timestamp',
  signature: 'X-Signature',
  event: 'X-Webhook-Event',
  idempotencyKey: 'Idempotency-Key',
} as const;

/** `sha256=` and the hex HMAC-SHA256 under the webhook's secret of `<timestamp>.<body>`. */
export function sign(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`, 'utf8').digest('hex')}`;
}

type Data = Record<string, unknown>;

/**
 * A value as Slack shows it as it is: `&`, `<` and `>` escaped as Slack's message format asks
 * (else `<!channel>` in a survey comment pings a channel and `<url|text>` makes a link), and line
 * breaks made spaces, so the message stays one line.
 */
function slackPlain(v: unknown): string {
  if (v === null || v === undefined) return '–';
  return String(v).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\s*[\r\n]+\s*/g, ' ');
}

/** One line a person reads in a Slack channel; the JSON format carries the full payload. */
export function slackText(event: string, data: Data): string {
  const s = slackPlain;
  switch (event) {
    case 'survey.detractor':
      return `Detractor: customer ${s(data.customerId)} answered ${s(data.kind)} survey ${s(data.surveyId)} with ${s(data.score)}${data.comment ? `: "${s(data.comment)}"` : ''}`;
    case 'snapshot.taken':
      return `Snapshot "${s(data.name)}" taken for ${s(data.from)} – ${s(data.to)}: ${s(data.customers)} customers, ${s(data.orders)} orders, revenue ${s(data.revenue)} ${s(data.currency)}`;
    case 'customer.at_risk': {
      const customers = Array.isArray(data.customers) ? (data.customers as { customerId: string }[]) : [];
      const shown = customers.slice(0, 10).map((c) => c.customerId).join(', ');
      return `${customers.length} customer(s) became at risk: ${shown}${customers.length > 10 ? ', …' : ''}`;
    }
    case 'alert.firing':
    case 'alert.resolved':
      return `Alert ${s(data.name)} ${event === 'alert.firing' ? 'is firing' : 'resolved'}${data.value !== undefined ? `: value ${s(data.value)}` : ''}`;
    default:
      return `${event}: ${slackPlain(JSON.stringify(data))}`;
  }
}

/** The document to POST: the stored JSON body, or for SLACK `{ text }` made from it. */
export function requestBody(delivery: Delivery, hook: SigningWebhook): string {
  if (hook.format === 'JSON') return delivery.body;
  const doc = JSON.parse(delivery.body) as { event: string; data: Data };
  return JSON.stringify({ text: slackText(doc.event, doc.data) });
}

/**
 * When a failed attempt number `attempts` is tried again: 30 s after the first, doubling, the last
 * attempt at DELIVERY_WINDOW_MS after the event; null when that one failed too (GAVE_UP).
 */
export function nextAttempt(createdAt: Date, attempts: number, now: Date): Date | null {
  const deadline = createdAt.getTime() + DELIVERY_WINDOW_MS;
  if (now.getTime() >= deadline) return null;
  return new Date(Math.min(now.getTime() + FIRST_RETRY_MS * 2 ** (attempts - 1), deadline));
}

/**
 * Reads at most RESPONSE_BODY_BYTES and drops the rest unread: `text`, and `error` when the
 * answer broke off or outlasted the attempt's timeout before that (the bytes read until then are
 * kept in `text`).
 */
async function bodyPrefix(res: Response): Promise<{ text: string; error?: Error }> {
  if (res.body === null) return { text: '' };
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let error: Error | undefined;
  try {
    while (size < RESPONSE_BODY_BYTES) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
    }
  } catch (e) {
    error = e as Error;
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  // Cut at a byte count, a multi-byte character may end half: the decoder marks it.
  return { text: new TextDecoder().decode(Buffer.concat(chunks).subarray(0, RESPONSE_BODY_BYTES)), ...(error ? { error } : {}) };
}

export interface SendOptions {
  allowed: AllowedHosts;
  timeoutMs: number;
  now: Date;
}

/**
 * Makes one attempt. The URL is checked against the allow-list again (WEBHOOK_ALLOWED_HOSTS may
 * have changed since the webhook was created); redirects are not followed, a 3xx is a failure, so
 * no request ever reaches a host off the list.
 */
export async function attempt(delivery: Delivery, hook: SigningWebhook, o: SendOptions): Promise<AttemptOutcome> {
  const attempts = delivery.attempts + 1;
  const failed = (statusCode: number | null, error: string, responseBody: string | null): AttemptOutcome => {
    const next = nextAttempt(delivery.createdAt, attempts, o.now);
    return { status: next === null ? 'GAVE_UP' : 'PENDING', statusCode, error, responseBody, nextAttemptAt: next };
  };
  const problem = urlProblem(hook.url, o.allowed);
  // The list will not change without a restart: retrying is pointless.
  if (problem !== undefined) return { status: 'GAVE_UP', statusCode: null, error: `not sent: ${problem}`, responseBody: null, nextAttemptAt: null };
  const body = requestBody(delivery, hook);
  const timestamp = String(Math.floor(o.now.getTime() / 1000));
  let res: Response;
  try {
    res = await fetch(hook.url, {
      method: 'POST',
      redirect: 'manual',
      signal: AbortSignal.timeout(o.timeoutMs),
      headers: {
        'content-type': 'application/json',
        'user-agent': 'kpi-service-webhooks',
        [HEADERS.timestamp]: timestamp,
        [HEADERS.signature]: sign(hook.secret, timestamp, body),
        [HEADERS.event]: delivery.event,
        [HEADERS.idempotencyKey]: delivery.id,
      },
      body,
    });
  } catch (e) {
    const err = e as Error & { cause?: { code?: string; message?: string } };
    const why = err.name === 'TimeoutError' ? `no answer within ${o.timeoutMs} ms` : (err.cause?.code ?? err.cause?.message ?? err.message);
    return failed(null, `request failed: ${why}`, null);
  }
  const { text: responseBody, error } = await bodyPrefix(res);
  // The timeout covers the answer too: a receiver still sending when it ends counts as failed.
  if (error !== undefined) {
    const why = error.name === 'TimeoutError' ? `answer not complete within ${o.timeoutMs} ms` : `answer broke off: ${error.message}`;
    return failed(res.status, why, responseBody);
  }
  if (res.status >= 200 && res.status < 300) return { status: 'DELIVERED', statusCode: res.status, error: null, responseBody, nextAttemptAt: null };
  const why = res.status >= 300 && res.status < 400 ? `redirect to ${res.headers.get('location') ?? '(no location)'} not followed` : `answered HTTP ${res.status}`;
  return failed(res.status, why, responseBody);
}
