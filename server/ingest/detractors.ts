import type { BatchNotifier } from '../notifications/events.js';
import type { QueryContext } from '../storage/executor.js';
import type { StoredEvent, SurveyResponseRow } from './validate.js';

/**
 * The responses that make a survey.detractor event (issue 19): NPS 0-6, the detractors of spec
 * section 7 (loaders/survey-bands.sql.ts), and CSAT 1-2, the two answers below neutral.
 */
export function isDetractor(row: SurveyResponseRow): boolean {
  return row.kind === 'NPS' ? row.score <= 6 : row.score <= 2;
}

/** The event's `data` (docs/webhooks.md): the response as it was stored. */
export function detractorPayload(row: SurveyResponseRow): Record<string, unknown> {
  return {
    customerId: row.customer_id,
    surveyId: row.survey_id,
    kind: row.kind,
    score: row.score,
    comment: row.comment,
    occurredAt: new Date(`${row.occurred_at.replace(' ', 'T')}Z`).toISOString(),
    eventId: row.event_id,
  };
}

/**
 * Queues survey.detractor for each newly stored detractor response, in one outbox write. Called
 * once the responses are stored and before their writers are answered, so an answered write has
 * its notifications queued; a failure here is logged by the caller and loses only notifications,
 * never events.
 */
export async function publishDetractors(notifier: BatchNotifier, stored: readonly StoredEvent[], ctx: QueryContext): Promise<void> {
  const events = stored.flatMap((e) => (e.type === 'survey' && isDetractor(e.row) ? [{ event: 'survey.detractor' as const, payload: detractorPayload(e.row) }] : []));
  await notifier.publishAll(events, ctx);
}
