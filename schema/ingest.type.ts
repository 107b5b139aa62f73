import { Field, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import { MAX_LISTED_REJECTED } from '../server/ingest/rejections.js';
import { MAX_TIER_LENGTH } from '../loaders/event-codes.js';
import { MAX_POINTS } from '../server/ingest/validate.js';
import { DecimalScalar, type NumberLiteral } from './scalars.js';

export enum ReferralStage {
  INVITED = 'INVITED',
  CLICKED = 'CLICKED',
  SIGNED_UP = 'SIGNED_UP',
}
export enum SurveyKind {
  NPS = 'NPS',
  CSAT = 'CSAT',
}
export enum LoyaltyAction {
  JOINED = 'JOINED',
  TIER_CHANGED = 'TIER_CHANGED',
  POINTS_EARNED = 'POINTS_EARNED',
  POINTS_REDEEMED = 'POINTS_REDEEMED',
  LEFT = 'LEFT',
}
export enum TouchStage {
  SENT = 'SENT',
  OPENED = 'OPENED',
  CLICKED = 'CLICKED',
  HELD_OUT = 'HELD_OUT',
}
registerEnumType(ReferralStage, { name: 'ReferralStage' });
registerEnumType(SurveyKind, { name: 'SurveyKind' });
registerEnumType(TouchStage, {
  name: 'TouchStage',
  valuesConfig: { HELD_OUT: { description: "Assigned to the campaign's control group at this time; nothing was sent." } },
});
registerEnumType(LoyaltyAction, { name: 'LoyaltyAction' });

const OCCURRED_AT = 'ISO-8601 instant with Z or an explicit offset; validated per event so one bad event does not fail the batch.';

@InputType()
export class PurchaseInput {
  @Field(() => String) eventId!: string;
  @Field(() => String) customerId!: string;
  @Field(() => String, { description: OCCURRED_AT }) occurredAt!: string;
  @Field(() => DecimalScalar, { description: '0..1e12, at most 4 decimals.' }) amount!: string | NumberLiteral;
  @Field(() => String, { description: 'ISO 4217 code.' }) currency!: string;
  @Field(() => String, { nullable: true }) orderId?: string | null;
  @Field(() => String, { nullable: true }) channel?: string | null;
}

@InputType({ description: 'Spec section 12: belongs to the purchase of the same customer and currency whose orderId (else eventId) is `orderId`.' })
export class RefundInput {
  @Field(() => String) eventId!: string;
  @Field(() => String) customerId!: string;
  @Field(() => String, { description: "The refunded purchase's orderId, or its eventId when it has none." }) orderId!: string;
  @Field(() => String, { description: OCCURRED_AT }) occurredAt!: string;
  @Field(() => DecimalScalar, { description: '> 0 and <= 1e12, at most 4 decimals.' }) amount!: string | NumberLiteral;
  @Field(() => String, { description: 'ISO 4217 code; the refunded purchase\'s currency.' }) currency!: string;
  @Field(() => String, { nullable: true, description: 'At most 500 characters.' }) reason?: string | null;
}

@InputType()
export class ReferralInput {
  @Field(() => String) eventId!: string;
  @Field(() => String) referralId!: string;
  @Field(() => ReferralStage) stage!: ReferralStage;
  @Field(() => String) referrerId!: string;
  @Field(() => String, { nullable: true, description: 'Required when stage is SIGNED_UP.' }) referredCustomerId?: string | null;
  @Field(() => String, { description: OCCURRED_AT }) occurredAt!: string;
  @Field(() => String, { nullable: true }) channel?: string | null;
}

@InputType()
export class SurveyResponseInput {
  @Field(() => String) eventId!: string;
  @Field(() => String) customerId!: string;
  @Field(() => String) surveyId!: string;
  @Field(() => SurveyKind) kind!: SurveyKind;
  @Field(() => Int, { description: '0..10 for NPS, 1..5 for CSAT.' }) score!: number;
  @Field(() => String, { description: OCCURRED_AT }) occurredAt!: string;
  @Field(() => String, { nullable: true }) comment?: string | null;
}

@InputType()
export class CustomerInput {
  @Field(() => String) eventId!: string;
  @Field(() => String) customerId!: string;
  @Field(() => String, { description: `When this profile version was observed. ${OCCURRED_AT}` }) occurredAt!: string;
  @Field(() => String, { nullable: true, description: 'ISO 3166 alpha-2.' }) country?: string | null;
  @Field(() => String, { nullable: true, description: 'Acquisition channel.' }) channel?: string | null;
  @Field(() => String, { nullable: true }) segment?: string | null;
}

@InputType({ description: 'A loyalty program event (spec section 14).' })
export class LoyaltyEventInput {
  @Field(() => String) eventId!: string;
  @Field(() => String) customerId!: string;
  @Field(() => String, { description: OCCURRED_AT }) occurredAt!: string;
  @Field(() => LoyaltyAction) action!: LoyaltyAction;
  @Field(() => String, { nullable: true, description: `1..${MAX_TIER_LENGTH} characters; required for TIER_CHANGED, optional on JOINED.` }) tier?: string | null;
  @Field(() => Int, { nullable: true, description: `1..${MAX_POINTS}; required for POINTS_EARNED and POINTS_REDEEMED.` }) points?: number | null;
}

@InputType({ description: 'Spec section 15: a follow-up campaign sent to, opened or clicked by a customer, or a customer held out of it.' })
export class TouchInput {
  @Field(() => String) eventId!: string;
  @Field(() => String) customerId!: string;
  @Field(() => String, { description: OCCURRED_AT }) occurredAt!: string;
  @Field(() => String, { description: '1..128 characters.' }) campaign!: string;
  @Field(() => TouchStage) stage!: TouchStage;
  @Field(() => String, { nullable: true, description: 'e.g. EMAIL, SMS.' }) channel?: string | null;
}

@ObjectType()
export class RejectedEvent {
  @Field(() => Int, { description: '1-based position in `events`.' }) line!: number;
  @Field(() => String, { nullable: true }) eventId!: string | null;
  @Field(() => [String]) errors!: string[];
}

@ObjectType()
export class IngestResult {
  @Field(() => Int, { description: 'Events stored as new.' }) accepted!: number;
  @Field(() => Int, { description: 'Valid events whose eventId was already stored or came earlier in this call.' }) duplicates!: number;
  @Field(() => Int, { description: 'Invalid events, all of them; accepted + duplicates + rejectedCount = events sent.' }) rejectedCount!: number;
  @Field(() => [RejectedEvent], { description: `The first ${MAX_LISTED_REJECTED} invalid events, in order.` }) rejected!: RejectedEvent[];
}
