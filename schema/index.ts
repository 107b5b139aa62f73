import 'reflect-metadata';
import { lexicographicSortSchema, printSchema, type GraphQLSchema } from 'graphql';
import { buildSchema } from 'type-graphql';
import { DateTimeScalar, DecimalScalar } from './scalars.js';
import { AlertsResolver } from './alerts.resolver.js';
import { ClvResolver } from './clv.resolver.js';
import { ClvModelResolver } from './clv-model.resolver.js';
import { CustomersResolver } from './customers.resolver.js';
import { ErasureResolver } from './erasure.resolver.js';
import { FollowUpResolver } from './follow-up.resolver.js';
import { HealthResolver } from './health.resolver.js';
import { IngestResolver } from './ingest.resolver.js';
import { KpiSnapshotsResolver } from './kpi-snapshots.resolver.js';
import { KpiSeriesResolver } from './kpi-series.resolver.js';
import { LoyaltyResolver } from './loyalty.resolver.js';
import { ReferralResolver } from './referral.resolver.js';
import { RepeatPurchaseResolver } from './repeat-purchase.resolver.js';
import { RetentionResolver } from './retention.resolver.js';
import { SnapshotResolver } from './snapshot.resolver.js';
import { StoreDimensionsResolver } from './store-dimensions.resolver.js';
import { VoiceResolver } from './voice.resolver.js';
import { WebhooksResolver } from './webhooks.resolver.js';

export const RESOLVERS = [
  HealthResolver,
  RetentionResolver,
  RepeatPurchaseResolver,
  IngestResolver,
  ClvResolver,
  ClvModelResolver,
  ReferralResolver,
  VoiceResolver,
  CustomersResolver,
  SnapshotResolver,
  KpiSeriesResolver,
  KpiSnapshotsResolver,
  StoreDimensionsResolver,
  ErasureResolver,
  LoyaltyResolver,
  FollowUpResolver,
  WebhooksResolver,
  AlertsResolver,
] as const;

let built: GraphQLSchema | undefined;

/** The schema is built once per process: type-graphql's metadata is global. */
export async function getSchema(): Promise<GraphQLSchema> {
  built ??= await buildSchema({
    resolvers: [...RESOLVERS] as unknown as [Function, ...Function[]],
    scalarsMap: [
      { type: Date, scalar: DateTimeScalar },
    ],
    validate: false,
  });
  return built;
}

export async function printedSchema(): Promise<string> {
  return `${printSchema(lexicographicSortSchema(await getSchema()))}\n`;
}

export { DateTimeScalar, DecimalScalar };
