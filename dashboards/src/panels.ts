// Panel recipes shared by the boards: every panel gets a title, a description, a unit, the
// provisioned data source and one Infinity GraphQL target built from a query document.
import type { Builder, Dataquery } from '@grafana/grafana-foundation-sdk/cog';
import {
  BigValueColorMode, BigValueGraphMode, BigValueTextMode, GraphDrawStyle, ReduceDataOptionsBuilder,
  StackingConfigBuilder, StackingMode, TableCellBackgroundDisplayMode, TableCellDisplayMode, VisibilityMode, type DataSourceRef,
} from '@grafana/grafana-foundation-sdk/common';
import type { DynamicConfigValue, GridPos } from '@grafana/grafana-foundation-sdk/dashboard';
import { FieldColorBuilder, FieldColorModeId } from '@grafana/grafana-foundation-sdk/dashboard';
import { PanelBuilder as StatBuilder } from '@grafana/grafana-foundation-sdk/stat';
import { PanelBuilder as TableBuilder } from '@grafana/grafana-foundation-sdk/table';
import { PanelBuilder as TimeseriesBuilder } from '@grafana/grafana-foundation-sdk/timeseries';
import { PanelBuilder as BarchartBuilder } from '@grafana/grafana-foundation-sdk/barchart';
import { loadDocument } from './documents.js';
import { InfinityGraphqlQueryBuilder, KPI_DATASOURCE, type ColumnType } from './infinity.js';

export interface Target {
  /** Document under dashboards/queries. */
  doc: string;
  /** GJSON path, or JSONata when the rows need reshaping. */
  root: string;
  /** [selector, type, display name]. */
  columns: [string, ColumnType, string][];
  format?: 'table' | 'timeseries';
}

export interface PanelBase {
  title: string;
  description: string;
  unit: string;
  w: number;
  h: number;
  target: Target;
  /** More queries drawn in the same panel (refId B, C, ...). */
  more?: Target[];
  overrides?: Record<string, DynamicConfigValue[]>;
  decimals?: number;
}

/** Documents the boards use, in first-use order: the generator reads each once. */
export const usedDocuments = new Map<string, ReturnType<typeof loadDocument>>();

function target(t: Target, refId: string): Builder<Dataquery> {
  let doc = usedDocuments.get(t.doc);
  if (!doc) {
    doc = loadDocument(t.doc);
    usedDocuments.set(t.doc, doc);
  }
  const q = new InfinityGraphqlQueryBuilder(doc.grafana).refId(refId).format(t.format ?? 'table').rootSelector(t.root);
  for (const [selector, type, text] of t.columns) q.column(selector, type, text);
  return q;
}

interface Common<B> {
  title(t: string): B;
  description(d: string): B;
  datasource(d: DataSourceRef): B;
  gridPos(g: GridPos): B;
  unit(u: string): B;
  decimals(d: number): B;
  withTarget(t: Builder<Dataquery>): B;
  overrideByName(name: string, properties: DynamicConfigValue[]): B;
}

function setup<B extends Common<B>>(b: B, p: PanelBase): B {
  // x = y = 0 lets the dashboard builder flow panels left to right, wrapping at 24 columns.
  let out = b.title(p.title).description(p.description).datasource(KPI_DATASOURCE).gridPos({ x: 0, y: 0, w: p.w, h: p.h }).unit(p.unit);
  if (p.decimals !== undefined) out = out.decimals(p.decimals);
  for (const [name, props] of Object.entries(p.overrides ?? {})) out = out.overrideByName(name, props);
  [p.target, ...(p.more ?? [])].forEach((t, i) => {
    out = out.withTarget(target({ ...t, format: t.format ?? p.target.format }, String.fromCharCode(65 + i)));
  });
  return out;
}

/** Big number of the latest period in the range, its sparkline and its change since the first period. */
export function stat(p: PanelBase & { calc?: 'lastNotNull' | 'last' }): StatBuilder {
  return setup(new StatBuilder(), p)
    .reduceOptions(new ReduceDataOptionsBuilder().calcs([p.calc ?? 'lastNotNull']).values(false).fields(''))
    .graphMode(p.target.format === 'timeseries' ? BigValueGraphMode.Area : BigValueGraphMode.None)
    .showPercentChange(p.target.format === 'timeseries')
    .colorMode(BigValueColorMode.None)
    .textMode(p.target.columns.filter(([, type]) => type === 'number').length > 1 ? BigValueTextMode.ValueAndName : BigValueTextMode.Auto);
}

export function timeseries(p: PanelBase & { bars?: boolean; stacked?: boolean; min?: number }): TimeseriesBuilder {
  let b = setup(new TimeseriesBuilder(), { ...p, target: { ...p.target, format: 'timeseries' }, more: p.more?.map((t) => ({ ...t, format: 'timeseries' as const })) })
    .drawStyle(p.bars ? GraphDrawStyle.Bars : GraphDrawStyle.Line)
    .fillOpacity(p.bars ? 80 : 10)
    .showPoints(VisibilityMode.Auto)
    .spanNulls(false);
  if (p.stacked) b = b.stacking(new StackingConfigBuilder().mode(StackingMode.Normal));
  if (p.min !== undefined) b = b.min(p.min);
  return b;
}

export function table(p: PanelBase): TableBuilder {
  return setup(new TableBuilder(), p);
}

/** Long rows (row, column, value) pivoted into a matrix whose cells are coloured by value. */
export function matrix(p: PanelBase & { row: string; column: string; value: string }): TableBuilder {
  return setup(new TableBuilder(), p)
    .withTransformation({ id: 'groupingToMatrix', options: { rowField: p.row, columnField: p.column, valueField: p.value } })
    .min(0)
    .max(1)
    .colorScheme(new FieldColorBuilder().mode(FieldColorModeId.ContinuousGrYlRd))
    .cellOptions({ type: TableCellDisplayMode.ColorBackground, mode: TableCellBackgroundDisplayMode.Gradient })
    // groupingToMatrix names the row-label column "<row>\<column>".
    .overrideByName(`${p.row}\\${p.column}`, [{ id: 'custom.cellOptions', value: { type: TableCellDisplayMode.Auto } }, { id: 'unit', value: 'string' }]);
}

export function barchart(p: PanelBase & { x: string }): BarchartBuilder {
  return setup(new BarchartBuilder(), p).xField(p.x).fillOpacity(80);
}

export const fixedColor = (color: string): DynamicConfigValue => ({ id: 'color', value: { mode: 'fixed', fixedColor: color } });
export const unit = (u: string): DynamicConfigValue => ({ id: 'unit', value: u });
export const rightAxis: DynamicConfigValue = { id: 'custom.axisPlacement', value: 'right' };
/** The two bounds of a band: no line of their own, the area between them filled. */
export function band(low: string): Record<string, DynamicConfigValue[]> {
  return {
    [low]: [{ id: 'custom.lineWidth', value: 0 }, { id: 'custom.hideFrom', value: { legend: true, tooltip: false, viz: false } }],
  };
}
export function bandHigh(low: string): DynamicConfigValue[] {
  return [
    { id: 'custom.lineWidth', value: 0 },
    { id: 'custom.fillBelowTo', value: low },
    { id: 'custom.fillOpacity', value: 20 },
    { id: 'custom.hideFrom', value: { legend: true, tooltip: false, viz: false } },
  ];
}
