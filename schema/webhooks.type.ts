import { Field, ID, Int, ObjectType, registerEnumType } from 'type-graphql';
import { DateTimeScalar } from './scalars.js';
import { PageInfo } from './kpi-snapshots.type.js';

export enum WebhookFormat {
  JSON = 'JSON',
  SLACK = 'SLACK',
}
registerEnumType(WebhookFormat, {
  name: 'WebhookFormat',
  description: 'JSON: `{ id, event, createdAt, data }` (docs/webhooks.md). SLACK: `{ text }`, a line for a Slack incoming webhook.',
});

export enum DeliveryStatus {
  PENDING = 'PENDING',
  DELIVERED = 'DELIVERED',
  GAVE_UP = 'GAVE_UP',
}
registerEnumType(DeliveryStatus, {
  name: 'DeliveryStatus',
  description: 'PENDING: waiting for its first or next attempt. DELIVERED: a 2xx answer. GAVE_UP: the last attempt, 24 h after the event, failed too, or the webhook is gone.',
});

@ObjectType({ description: 'A receiver of events (issue 19); its signing secret is shown only once, by createWebhook.' })
export class Webhook {
  @Field(() => ID) id!: string;
  @Field(() => String) url!: string;
  @Field(() => [String], { description: 'Event names it receives: alert.firing, alert.resolved, snapshot.taken, survey.detractor, customer.at_risk.' })
  events!: string[];
  @Field(() => WebhookFormat) format!: WebhookFormat;
  @Field(() => DateTimeScalar) createdAt!: Date;
}

@ObjectType({ description: 'A new webhook and its signing secret: store it now, it is never shown again.' })
export class CreatedWebhook extends Webhook {
  @Field(() => String, { description: 'HMAC-SHA256 key of the X-Signature header (hex). The service stores it to sign deliveries; this is the only time it is returned.' })
  secret!: string;
}

@ObjectType({ description: 'One event sent to one webhook, and how its attempts went.' })
export class WebhookDelivery {
  @Field(() => ID, { description: 'Also the Idempotency-Key header and the `id` of the body: the same at every attempt.' })
  id!: string;
  @Field(() => String) event!: string;
  @Field(() => DeliveryStatus) status!: DeliveryStatus;
  @Field(() => Int) attempts!: number;
  @Field(() => DateTimeScalar, { description: 'When the event was published.' })
  createdAt!: Date;
  @Field(() => DateTimeScalar, { nullable: true, description: 'When the next attempt is due; null once delivered or given up.' })
  nextAttemptAt!: Date | null;
  @Field(() => Int, { nullable: true, description: 'HTTP status of the last answer; null before the first attempt or when none came.' })
  lastStatusCode!: number | null;
  @Field(() => String, { nullable: true, description: 'Why the last attempt failed; null when it succeeded or none was made.' })
  lastError!: string | null;
  @Field(() => String, { nullable: true, description: 'The first 1 KB of the last answer body; the rest is never read.' })
  responseBody!: string | null;
}

@ObjectType()
export class WebhookDeliveryEdge {
  @Field(() => String) cursor!: string;
  @Field(() => WebhookDelivery) node!: WebhookDelivery;
}

@ObjectType({ description: "A webhook's deliveries, newest first." })
export class WebhookDeliveryConnection {
  @Field(() => [WebhookDeliveryEdge]) edges!: WebhookDeliveryEdge[];
  @Field(() => PageInfo) pageInfo!: PageInfo;
}
