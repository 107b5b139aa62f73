import { Field, Float, ID, InputType, ObjectType, registerEnumType } from 'type-graphql';
import { AlertConditionKind, AlertMetric, AlertState } from '../loaders/alerts.js';
import { Grain } from '../loaders/grain.js';
import { CustomerFilterInput } from './common.args.js';
import { PageInfo } from './kpi-snapshots.type.js';
import { DateTimeScalar } from './scalars.js';

registerEnumType(AlertMetric, { name: 'AlertMetric', description: 'A numeric field of kpiSnapshot, by its name.' });
registerEnumType(AlertConditionKind, {
  name: 'AlertConditionKind',
  description: 'BELOW/ABOVE `threshold`; DROPS_BY/RISES_BY `percent` against the previous window of the same length; OUTSIDE_INTERVAL: the previous window\'s value lies outside the current value\'s 95% Wilson interval.',
});
registerEnumType(AlertState, { name: 'AlertState' });

// One class for both directions: what is given is what an alert answers.
@ObjectType('AlertCondition')
@InputType('AlertConditionInput', { description: 'A kind and its one value: `threshold` for BELOW/ABOVE, `percent` (> 0) for DROPS_BY/RISES_BY, none for OUTSIDE_INTERVAL.' })
export class AlertConditionInput {
  @Field(() => AlertConditionKind) kind!: AlertConditionKind;
  @Field(() => Float, { nullable: true, description: 'BELOW and ABOVE: the value the metric is compared with.' }) threshold?: number | null;
  @Field(() => Float, { nullable: true, description: 'DROPS_BY and RISES_BY: the change against the previous window, in percent of it (10 = 10%).' }) percent?: number | null;
}

@ObjectType({ description: 'A KPI alert (docs/alerts.md): evaluated at each cadence boundary of its window; notifies alert.firing and alert.resolved.' })
export class Alert {
  @Field(() => ID) id!: string;
  @Field(() => String) name!: string;
  @Field(() => AlertMetric) metric!: AlertMetric;
  @Field(() => String, { description: 'window@cadence as in SNAPSHOT_SCHEDULE, e.g. last-week@weekly.' }) window!: string;
  @Field(() => Grain) grain!: Grain;
  @Field(() => CustomerFilterInput, { nullable: true }) filter!: CustomerFilterInput | null;
  @Field(() => String, { nullable: true, description: 'Null: the reporting currency at each evaluation.' }) currency!: string | null;
  @Field(() => AlertConditionInput) condition!: AlertConditionInput;
  @Field(() => [String], { description: 'Webhooks notified of its transitions, besides those subscribed to the event.' }) webhookIds!: string[];
  @Field(() => AlertState) state!: AlertState;
  @Field(() => DateTimeScalar, { nullable: true, description: 'When it entered its state; null for an alert that never fired.' }) stateSince!: Date | null;
  @Field(() => DateTimeScalar) createdAt!: Date;
  @Field(() => DateTimeScalar) updatedAt!: Date;
}

@ObjectType({ description: "A transition of an alert's state, with what its evaluation saw." })
export class AlertEvent {
  @Field(() => ID) id!: string;
  @Field(() => ID) alertId!: string;
  @Field(() => DateTimeScalar, { description: 'The evaluation instant: a cadence boundary, and the asOf of both windows.' }) at!: Date;
  @Field(() => DateTimeScalar, { name: 'from', description: 'The evaluated window, [from, to).' }) windowFrom!: Date;
  @Field(() => DateTimeScalar, { name: 'to' }) windowTo!: Date;
  @Field(() => AlertMetric) metric!: AlertMetric;
  @Field(() => String, { description: 'The condition at the time, e.g. "DROPS_BY 10%".' }) condition!: string;
  @Field(() => Float, { nullable: true }) value!: number | null;
  @Field(() => Float, { nullable: true, description: "The previous window's value." }) previousValue!: number | null;
  @Field(() => Float, { nullable: true, description: "Lower bound of the value's 95% Wilson interval (rates that have one)." }) intervalLow!: number | null;
  @Field(() => Float, { nullable: true }) intervalHigh!: number | null;
  @Field(() => AlertState) fromState!: AlertState;
  @Field(() => AlertState) toState!: AlertState;
  @Field(() => [String]) webhookIds!: string[];
}

@ObjectType()
export class AlertEventEdge {
  @Field(() => String) cursor!: string;
  @Field(() => AlertEvent) node!: AlertEvent;
}

@ObjectType({ description: "An alert's transitions, newest first." })
export class AlertEventConnection {
  @Field(() => [AlertEventEdge]) edges!: AlertEventEdge[];
  @Field(() => PageInfo) pageInfo!: PageInfo;
}
