// The Infinity data source has no builder in the foundation SDK: this is the small one its
// README's "custom query type" pattern asks for, limited to what the boards use.
import type { Builder, Dataquery } from '@grafana/grafana-foundation-sdk/cog';
import type { DataSourceRef } from '@grafana/grafana-foundation-sdk/common';

/** The provisioned data source (dashboards/provisioning/datasources/kpi-api.yaml). */
export const KPI_DATASOURCE: DataSourceRef = { type: 'yesoreyeram-infinity-datasource', uid: 'kpi-api' };

export type ColumnType = 'string' | 'number' | 'timestamp';

export interface InfinityColumn {
  selector: string;
  text: string;
  type: ColumnType;
}

export interface InfinityGraphqlQuery extends Dataquery {
  refId?: string;
  hide?: boolean;
  datasource: DataSourceRef;
  type: 'graphql';
  source: 'url';
  parser: 'backend';
  format: 'table' | 'timeseries';
  url: string;
  url_options: {
    method: 'POST';
    body_type: 'graphql';
    body_content_type: 'application/json';
    body_graphql_query: string;
    body_graphql_variables: string;
  };
  root_selector: string;
  columns: InfinityColumn[];
  filterExpression: string;
}

export class InfinityGraphqlQueryBuilder implements Builder<Dataquery> {
  private readonly internal: InfinityGraphqlQuery;

  /** `query` is the document text with Grafana's macros in place of its variables. */
  constructor(query: string) {
    this.internal = {
      refId: 'A',
      datasource: KPI_DATASOURCE,
      type: 'graphql',
      source: 'url',
      // Without `backend` the plugin migrates the query to its browser parser, which alerting and public boards cannot run.
      parser: 'backend',
      format: 'table',
      url: '/graphql',
      url_options: {
        // The plugin sends a body only for non-GET requests.
        method: 'POST',
        body_type: 'graphql',
        body_content_type: 'application/json',
        body_graphql_query: query,
        // Variables here get no backend macro expansion: everything is inlined in the query.
        body_graphql_variables: '',
      },
      root_selector: '',
      columns: [],
      filterExpression: '',
      _implementsDataqueryVariant() {},
    };
  }

  build(): InfinityGraphqlQuery {
    return this.internal;
  }

  refId(refId: string): this {
    this.internal.refId = refId;
    return this;
  }

  format(format: InfinityGraphqlQuery['format']): this {
    this.internal.format = format;
    return this;
  }

  rootSelector(selector: string): this {
    this.internal.root_selector = selector;
    return this;
  }

  column(selector: string, type: ColumnType, text: string = selector): this {
    this.internal.columns.push({ selector, text, type });
    return this;
  }
}
