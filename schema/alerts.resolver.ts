import { Arg, Args, ArgsType, Ctx, Field, ID, Int, Mutation, Query, Resolver } from 'type-graphql';
import { checkAlert, createAlert, deleteAlert, listAlertEvents, listAlerts, updateAlert, AlertMetric, type AlertInput } from '../loaders/alerts.js';
import { Grain } from '../loaders/grain.js';
import { Alert, AlertConditionInput, AlertEventConnection } from './alerts.type.js';
import { CustomerFilterInput } from './common.args.js';
import type { Context } from './context.js';

@ArgsType()
class AlertArgs {
  @Field(() => String) name!: string;
  @Field(() => AlertMetric, { description: 'The kpiSnapshot field watched.' }) metric!: AlertMetric;
  @Field(() => String, { description: 'window@cadence as in SNAPSHOT_SCHEDULE: last-week@weekly, trailing-30d@daily, …' }) window!: string;
  @Field(() => Grain, { nullable: true, defaultValue: Grain.MONTH, description: "The grain of the snapshot's retention, NPS and CSAT." }) grain?: Grain | null;
  @Field(() => CustomerFilterInput, { nullable: true }) filter?: CustomerFilterInput | null;
  @Field(() => String, { nullable: true, description: 'ISO 4217; default: the reporting currency at each evaluation.' }) currency?: string | null;
  @Field(() => AlertConditionInput) condition!: AlertConditionInput;
  @Field(() => [String], { nullable: true, defaultValue: [], description: 'Webhook ids notified of its transitions (the webhook side also notifies webhooks subscribed to alert.firing/alert.resolved).' })
  webhookIds?: string[] | null;
}

@ArgsType()
class UpdateAlertArgs extends AlertArgs {
  @Field(() => ID) id!: string;
}

@ArgsType()
class AlertEventsArgs {
  @Field(() => ID) alertId!: string;
  @Field(() => Int, { nullable: true, defaultValue: 20, description: 'Page size, 1..100.' }) first?: number | null;
  @Field(() => String, { nullable: true, description: 'endCursor of the previous page.' }) after?: string | null;
}

function input(a: AlertArgs, ctx: Context): AlertInput {
  const c = a.condition;
  return checkAlert(
    {
      name: a.name,
      metric: a.metric,
      window: a.window,
      grain: a.grain ?? Grain.MONTH,
      filter: a.filter ?? null,
      currency: a.currency ?? null,
      condition: { kind: c.kind, threshold: c.threshold ?? null, percent: c.percent ?? null },
      webhookIds: a.webhookIds ?? [],
    },
    ctx.now(),
  );
}

@Resolver()
export class AlertsResolver {
  @Mutation(() => Alert, { description: 'Creates an alert (scope admin); it is first evaluated at the next boundary of its cadence, in state OK.' })
  createAlert(@Args(() => AlertArgs) args: AlertArgs, @Ctx() ctx: Context): Promise<Alert> {
    const a = input(args, ctx);
    // Alerts are stored, so a read replica or a standby refuses them like an event.
    ctx.writer.assertMayWrite(ctx.requestId);
    return createAlert(ctx.exec, ctx, a, ctx.now());
  }

  @Mutation(() => Alert, { description: 'Replaces an alert\'s definition (scope admin); its state and history stay.' })
  updateAlert(@Args(() => UpdateAlertArgs) args: UpdateAlertArgs, @Ctx() ctx: Context): Promise<Alert> {
    const a = input(args, ctx);
    ctx.writer.assertMayWrite(ctx.requestId);
    return updateAlert(ctx.exec, ctx, args.id, a, ctx.now());
  }

  @Mutation(() => Boolean, { description: 'Deletes an alert (scope admin): it is no longer evaluated; its history stays readable.' })
  deleteAlert(@Arg('id', () => ID) id: string, @Ctx() ctx: Context): Promise<boolean> {
    ctx.writer.assertMayWrite(ctx.requestId);
    return deleteAlert(ctx.exec, ctx, id, ctx.now());
  }

  @Query(() => [Alert], { description: 'Every alert with its state, oldest first.' })
  alerts(@Ctx() ctx: Context): Promise<Alert[]> {
    return listAlerts(ctx.exec, ctx);
  }

  @Query(() => AlertEventConnection, { description: "An alert's transitions (OK -> FIRING, FIRING -> OK), newest first." })
  async alertEvents(@Args(() => AlertEventsArgs) args: AlertEventsArgs, @Ctx() ctx: Context): Promise<AlertEventConnection> {
    const page = await listAlertEvents(ctx.exec, ctx, { alertId: args.alertId, first: args.first ?? 20, after: args.after ?? null });
    return { edges: page.edges, pageInfo: { hasNextPage: page.hasNextPage, endCursor: page.edges.at(-1)?.cursor ?? null } };
  }
}
