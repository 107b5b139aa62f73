import { Field, ObjectType } from 'type-graphql';
import { DIMENSION_LIMIT } from '../loaders/store-dimensions.sql.js';

const BOUND = `At most ${DIMENSION_LIMIT}`;

@ObjectType({ description: 'Values present in the store as of asOf: for board variables and to check filter values.' })
export class StoreDimensions {
  @Field(() => [String], { description: `Currencies of purchases up to asOf, most purchases first. ${BOUND}.` }) currencies!: string[];
  @Field(() => [String], { description: `Countries of customers' latest profiles as of asOf, most customers first. ${BOUND}.` }) countries!: string[];
  @Field(() => [String], { description: `Acquisition channels of customers' latest profiles as of asOf, most customers first. ${BOUND}.` }) channels!: string[];
  @Field(() => [String], { description: `Segments of customers' latest profiles as of asOf, most customers first. ${BOUND}.` }) segments!: string[];
  @Field(() => [String], { description: `Survey ids answered up to asOf, most responding customers first. ${BOUND}.` }) surveyIds!: string[];
}
