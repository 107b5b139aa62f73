import { Arg, Args, ArgsType, Ctx, Field, ID, Int, Mutation, Query, Resolver } from 'type-graphql';
import { checkFirst } from '../loaders/args.js';
import { MAX_PAGE } from '../loaders/cursor.js';
import { deliveryLog } from '../server/notifications/outbox.js';
import { createWebhook, deleteWebhook, listWebhooks } from '../server/notifications/webhooks.js';
import type { Context } from './context.js';
import { CreatedWebhook, Webhook, WebhookDeliveryConnection, WebhookFormat, type DeliveryStatus } from './webhooks.type.js';

@ArgsType()
class CreateWebhookArgs {
  @Field(() => String, { description: 'http(s) URL on a host of WEBHOOK_ALLOWED_HOSTS.' })
  url!: string;

  @Field(() => [String], { description: 'Event names: alert.firing, alert.resolved, snapshot.taken, survey.detractor, customer.at_risk.' })
  events!: string[];

  @Field(() => WebhookFormat, { nullable: true, defaultValue: WebhookFormat.JSON })
  format?: WebhookFormat | null;
}

@ArgsType()
class WebhookDeliveriesArgs {
  @Field(() => ID)
  webhookId!: string;

  @Field(() => Int, { nullable: true, defaultValue: 20, description: 'Page size, 1..100.' })
  first?: number | null;

  @Field(() => String, { nullable: true, description: 'endCursor of the previous page.' })
  after?: string | null;
}

@Resolver()
export class WebhooksResolver {
  @Mutation(() => CreatedWebhook, { description: 'Subscribes a URL to events (scope admin); the answer holds its signing secret, shown this once (docs/webhooks.md).' })
  createWebhook(@Args(() => CreateWebhookArgs) args: CreateWebhookArgs, @Ctx() ctx: Context): Promise<CreatedWebhook> {
    ctx.writer.assertMayWrite(ctx.requestId);
    return createWebhook(ctx.exec, ctx, { url: args.url, events: args.events, format: args.format ?? WebhookFormat.JSON }, ctx.config.webhookAllowedHosts, ctx.now()) as Promise<CreatedWebhook>;
  }

  @Mutation(() => Boolean, { description: 'Deletes a webhook (scope admin); its pending deliveries are given up. False when no webhook has this id.' })
  deleteWebhook(@Arg('id', () => ID) id: string, @Ctx() ctx: Context): Promise<boolean> {
    ctx.writer.assertMayWrite(ctx.requestId);
    return deleteWebhook(ctx.exec, ctx, id, ctx.now());
  }

  @Query(() => [Webhook], { description: 'Every webhook, oldest first, without secrets.' })
  async webhooks(@Ctx() ctx: Context): Promise<Webhook[]> {
    return (await listWebhooks(ctx.exec, ctx)).map(({ secret: _secret, ...hook }) => hook as Webhook);
  }

  @Query(() => WebhookDeliveryConnection, { description: "A webhook's delivery log, newest first: status, attempts, the last answer." })
  async webhookDeliveries(@Args(() => WebhookDeliveriesArgs) args: WebhookDeliveriesArgs, @Ctx() ctx: Context): Promise<WebhookDeliveryConnection> {
    const first = checkFirst(args.first ?? 20, MAX_PAGE);
    const page = await deliveryLog(ctx.exec, args.webhookId, first, args.after ?? null, ctx);
    const edges = page.deliveries.map(({ body: _body, customerIds: _ids, webhookId: _hook, ...d }) => ({ cursor: d.id, node: { ...d, status: d.status as DeliveryStatus } }));
    return { edges, pageInfo: { hasNextPage: page.hasNextPage, endCursor: edges.at(-1)?.cursor ?? null } };
  }
}
