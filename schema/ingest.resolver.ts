import { Arg, Ctx, Mutation, Resolver } from 'type-graphql';
import type { Context } from './context.js';
import { BadInputError } from '../loaders/errors.js';
import { CUSTOMER_ERASED } from '../server/ingest/erasures.js';
import { Rejections } from '../server/ingest/rejections.js';
import { validateEvent, type EventType, type StoredEvent } from '../server/ingest/validate.js';
import { NumberLiteral } from './scalars.js';
import { CustomerInput, IngestResult, LoyaltyEventInput, PurchaseInput, ReferralInput, RefundInput, SurveyResponseInput, TouchInput } from './ingest.type.js';

/** Same rules and counting as POST /v1/events; `line` is the position in `events`. */
async function ingest(ctx: Context, type: EventType, events: object[]): Promise<IngestResult> {
  ctx.writer.assertMayWrite(ctx.requestId);
  const limit = ctx.config.ingestBatchLimit;
  if (events.length > limit) {
    throw new BadInputError(`At most ${limit} events per call (got ${events.length}); send larger loads to POST /v1/events.`, 'events');
  }
  const valid: StoredEvent[] = [];
  const lines: number[] = [];
  const rejections = new Rejections();
  events.forEach((event, i) => {
    // A numeric amount is checked as a number with the text written, as in an NDJSON line.
    const amount = (event as { amount?: unknown }).amount;
    const result = amount instanceof NumberLiteral ? validateEvent({ ...event, amount: Number(amount.text) }, type, amount.text) : validateEvent({ ...event }, type);
    if (!result.ok) rejections.add(i + 1, result.eventId, result.errors);
    else if (ctx.writer.rejectsErased(result.event)) rejections.add(i + 1, result.event.row.event_id, [CUSTOMER_ERASED]);
    else {
      valid.push(result.event);
      lines.push(i + 1);
    }
  });
  const written = await ctx.writer.write(valid, ctx);
  for (const i of written.erased) rejections.add(lines[i]!, valid[i]!.row.event_id, [CUSTOMER_ERASED]);
  ctx.writer.report('graphql', { accepted: written.accepted, duplicates: written.duplicates.size, rejected: rejections.count });
  return { accepted: written.accepted, duplicates: written.duplicates.size, rejectedCount: rejections.count, rejected: rejections.listed };
}

@Resolver()
export class IngestResolver {
  @Mutation(() => IngestResult)
  ingestPurchases(@Arg('events', () => [PurchaseInput]) events: PurchaseInput[], @Ctx() ctx: Context): Promise<IngestResult> {
    return ingest(ctx, 'purchase', events);
  }

  @Mutation(() => IngestResult, { description: 'Refunds and cancellations (spec section 12).' })
  ingestRefunds(@Arg('events', () => [RefundInput]) events: RefundInput[], @Ctx() ctx: Context): Promise<IngestResult> {
    return ingest(ctx, 'refund', events);
  }

  @Mutation(() => IngestResult)
  ingestReferrals(@Arg('events', () => [ReferralInput]) events: ReferralInput[], @Ctx() ctx: Context): Promise<IngestResult> {
    return ingest(ctx, 'referral', events);
  }

  @Mutation(() => IngestResult)
  ingestSurveyResponses(@Arg('events', () => [SurveyResponseInput]) events: SurveyResponseInput[], @Ctx() ctx: Context): Promise<IngestResult> {
    return ingest(ctx, 'survey', events);
  }

  @Mutation(() => IngestResult, { description: 'Loyalty program events (spec section 14).' })
  ingestLoyaltyEvents(@Arg('events', () => [LoyaltyEventInput]) events: LoyaltyEventInput[], @Ctx() ctx: Context): Promise<IngestResult> {
    return ingest(ctx, 'loyalty', events);
  }

  @Mutation(() => IngestResult, { description: 'Follow-up touches (spec section 15).' })
  ingestTouches(@Arg('events', () => [TouchInput]) events: TouchInput[], @Ctx() ctx: Context): Promise<IngestResult> {
    return ingest(ctx, 'touch', events);
  }

  @Mutation(() => IngestResult, { description: 'Profile versions; the latest occurredAt holds as a whole.' })
  upsertCustomers(@Arg('events', () => [CustomerInput]) events: CustomerInput[], @Ctx() ctx: Context): Promise<IngestResult> {
    return ingest(ctx, 'customer', events);
  }
}
