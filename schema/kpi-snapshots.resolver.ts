import { Arg, Args, ArgsType, Ctx, Field, Int, Mutation, Query, Resolver } from 'type-graphql';
import { checkSnapshotList, checkSnapshotName, latestSnapshot, listSnapshots, snapshotTakenPayload, takeSnapshot } from '../loaders/kpi-snapshots.js';
import type { Context } from './context.js';
import { KpiSnapshotConnection, StoredKpiSnapshot } from './kpi-snapshots.type.js';
import { DateTimeScalar } from './scalars.js';
import { KpiSnapshotArgs, resolveSnapshot } from './snapshot.resolver.js';

@ArgsType()
class TakeSnapshotArgs extends KpiSnapshotArgs {
  @Field(() => String, { description: 'Snapshots of one name form a history: e.g. "monthly-board".' })
  name!: string;
}

@ArgsType()
class KpiSnapshotsArgs {
  @Field(() => String)
  name!: string;

  @Field(() => DateTimeScalar, { nullable: true, description: 'Only snapshots created at or after this instant.' })
  from?: Date | null;

  @Field(() => DateTimeScalar, { nullable: true, description: 'Only snapshots created before this instant.' })
  to?: Date | null;

  @Field(() => Int, { nullable: true, defaultValue: 20, description: 'Page size, 1..100.' })
  first?: number | null;

  @Field(() => String, { nullable: true, description: 'endCursor of the previous page.' })
  after?: string | null;
}

@Resolver()
export class KpiSnapshotsResolver {
  @Mutation(() => StoredKpiSnapshot, { description: 'Computes kpiSnapshot for the window now and stores it under `name` (scope admin; refused by a read replica or a standby, like an event).' })
  async takeSnapshot(@Args(() => TakeSnapshotArgs) args: TakeSnapshotArgs, @Ctx() ctx: Context): Promise<StoredKpiSnapshot> {
    const name = checkSnapshotName(args.name);
    // A stored snapshot is a write: a read replica or a standby refuses it like an event.
    ctx.writer.assertMayWrite(ctx.requestId);
    const stored = await takeSnapshot(ctx.exec, ctx, name, await resolveSnapshot(args, ctx), ctx.now);
    // The snapshot is stored whatever happens to its notification: a failed outbox write is logged, not answered.
    await ctx.notifier.publish('snapshot.taken', snapshotTakenPayload(stored), ctx).catch((err: unknown) => ctx.log.error({ err, snapshot: stored.id }, 'snapshot.taken could not be queued'));
    return stored;
  }

  @Query(() => KpiSnapshotConnection, { description: 'Stored snapshots of a name created in [from, to), newest first.' })
  async kpiSnapshots(@Args(() => KpiSnapshotsArgs) args: KpiSnapshotsArgs, @Ctx() ctx: Context): Promise<KpiSnapshotConnection> {
    const list = checkSnapshotList({ name: args.name, from: args.from ?? null, to: args.to ?? null, first: args.first ?? 20, after: args.after ?? null });
    const page = await listSnapshots(ctx.exec, ctx, list);
    return { edges: page.edges, pageInfo: { hasNextPage: page.hasNextPage, endCursor: page.edges.at(-1)?.cursor ?? null } };
  }

  @Query(() => StoredKpiSnapshot, { nullable: true, description: 'The most recently created snapshot of a name; null when there is none.' })
  latestKpiSnapshot(@Arg('name', () => String) name: string, @Ctx() ctx: Context): Promise<StoredKpiSnapshot | null> {
    return latestSnapshot(ctx.exec, ctx, checkSnapshotName(name));
  }
}
