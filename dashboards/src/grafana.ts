// Grafana's template interpolation, as far as the boards use it: what the dashboards test and the
// steady-state bench (bench/steady.ts) send is the text Grafana would send for a selection.

/** A variable's selection: one value, several, or "All". */
export type Selection = string | string[];
export const ALL = '$__all';
/** `$name`, `${name}` and `${name:format}`, as Grafana's template service finds them. */
export const VARIABLE = /\$(\w+)|\$\{(\w+)(?::([^}]+))?\}/g;

/** A board is the JSON Grafana stores. */
type Json = any;

/** The values a custom variable offers, from its `text : value` pairs or plain values. */
export function customOptions(def: Json): string[] {
  return String(def.query).split(',').map((o) => (o.includes(' : ') ? o.split(' : ')[1]! : o).trim());
}

/**
 * What templateSrv.replace makes of a query text for a time range and the selected values (a
 * variable not selected keeps its saved selection, else the first of `optionsOf(def)`). Only the
 * formats the boards use are known; any other is an error, so a board cannot start using one
 * unnoticed.
 */
export function interpolate(text: string, board: Json, values: Record<string, Selection>, range: { from: string; to: string }, optionsOf: (def: Json) => string[]): string {
  const defs = new Map<string, Json>((board.templating.list as Json[]).map((v) => [v.name, v]));
  return text.replace(VARIABLE, (match, plain: string | undefined, braced: string | undefined, format: string | undefined) => {
    const name = (plain ?? braced)!;
    if (name === '__timeFrom' || name === '__timeTo') {
      if (format !== 'date:iso') throw new Error(`${match}: the boards write time macros as date:iso`);
      return name === '__timeFrom' ? range.from : range.to;
    }
    const def = defs.get(name);
    if (!def) return match; // Grafana leaves unknown names as they are.
    const value = values[name] ?? def.current?.value ?? optionsOf(def)[0]!;
    const isAll = value === ALL || (Array.isArray(value) && value.includes(ALL));
    // A custom all value is written as is, whatever the format.
    if (isAll && def.allValue) return def.allValue;
    const list = Array.isArray(value) ? value : [value];
    if (format === 'json') return JSON.stringify(def.multi ? list : list[0]);
    if (format !== undefined) throw new Error(`${match}: the boards use no format but json`);
    return list.length === 1 ? list[0]! : `{${list.join(',')}}`; // the plugin's default format: glob
  });
}
