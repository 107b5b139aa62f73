import { Ctx, Query, Resolver } from 'type-graphql';
import type { Context } from './context.js';

@Resolver()
export class HealthResolver {
  @Query(() => String, { description: 'The engine version answering the KPI queries.' })
  storageVersion(@Ctx() ctx: Context): string {
    return ctx.exec.storage.version;
  }
}
