import 'reflect-metadata';
import { lexicographicSortSchema, printSchema, type GraphQLSchema } from 'graphql';
import { buildSchema } from 'type-graphql';
import { DateTimeScalar, DecimalScalar } from './scalars.js';
import { HealthResolver } from './health.resolver.js';
import { RepeatPurchaseResolver } from './repeat-purchase.resolver.js';
import { RetentionResolver } from './retention.resolver.js';

export const RESOLVERS = [HealthResolver, RetentionResolver, RepeatPurchaseResolver] as const;

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
