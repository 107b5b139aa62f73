import { Field, ID, Int, ObjectType } from 'type-graphql';
import { DateTimeScalar } from './scalars.js';
import { KpiSnapshot } from './snapshot.type.js';

@ObjectType({ description: 'A kpiSnapshot stored under a name; its values never change after it was taken.' })
export class StoredKpiSnapshot {
  @Field(() => ID) id!: string;
  @Field(() => String) name!: string;
  @Field(() => DateTimeScalar) createdAt!: Date;
  @Field(() => Int, { description: 'KPI definitions the values were computed under; bumped when a definition changes.' })
  definitionsVersion!: number;
  @Field(() => KpiSnapshot) snapshot!: KpiSnapshot;
}

@ObjectType()
export class KpiSnapshotEdge {
  @Field(() => String) cursor!: string;
  @Field(() => StoredKpiSnapshot) node!: StoredKpiSnapshot;
}

@ObjectType({ description: 'Relay-style page information.' })
export class PageInfo {
  @Field(() => Boolean) hasNextPage!: boolean;
  @Field(() => String, { nullable: true, description: 'Cursor of the last edge; pass it as `after` for the next page.' })
  endCursor!: string | null;
}

@ObjectType({ description: 'Stored snapshots of one name, newest first.' })
export class KpiSnapshotConnection {
  @Field(() => [KpiSnapshotEdge]) edges!: KpiSnapshotEdge[];
  @Field(() => PageInfo) pageInfo!: PageInfo;
}
