/**
 * What the service pushes to webhooks (issue 19). Producers (alert evaluation, the snapshot
 * scheduler, ingestion, the at-risk job) publish through a Notifier; the webhook outbox is one.
 * Kept free of any transport so every layer that produces an event can depend on it.
 */
export const NOTIFICATION_EVENTS = ['alert.firing', 'alert.resolved', 'snapshot.taken', 'survey.detractor', 'customer.at_risk'] as const;
export type NotificationEvent = (typeof NOTIFICATION_EVENTS)[number];

export interface Notifier {
  /**
   * Stores one delivery per subscribed webhook before it resolves (durable once it returns);
   * `payload` is the event's `data`, documented per event in docs/webhooks.md.
   */
  publish(event: NotificationEvent, payload: Record<string, unknown>, ctx: { requestId: string }): Promise<void>;
  /**
   * The payloads stored by earlier publishes of `events` whose `eventId` is one of `eventIds`, by
   * eventId. A producer that publishes before it stores (alert transitions) learns from it, after
   * a crash in between, what its receivers were told.
   */
  published(events: readonly NotificationEvent[], eventIds: readonly string[], ctx: { requestId: string }): Promise<Map<string, Record<string, unknown>>>;
}

/** Publishes nowhere: the default until webhooks are configured, and in tests that do not look. */
export const silentNotifier: Notifier = { publish: async () => undefined, published: async () => new Map() };

/**
 * A Notifier that also stores several events in one write: ingestion publishes the detractors of
 * a whole group of writes at once, so a batch of 10 000 responses costs one outbox write, not one each.
 */
export interface BatchNotifier extends Notifier {
  publishAll(events: readonly { event: NotificationEvent; payload: Record<string, unknown> }[], ctx: { requestId: string }): Promise<void>;
}
