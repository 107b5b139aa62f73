// A board's query is one of the GraphQL documents under dashboards/queries (the same files
// graphql-codegen types), with its variables replaced by Grafana's own text: Infinity sends
// `body_graphql_variables` unexpanded, so time macros and dashboard variables must sit inline.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kind, parse, print, visit, type OperationDefinitionNode } from 'graphql';

export const QUERIES_DIR = fileURLToPath(new URL('../queries/', import.meta.url));
/** Documents behind the board variables (their values), kept apart from the panels' ones. */
export const VARIABLES_DIR = fileURLToPath(new URL('../variables/', import.meta.url));

/**
 * What Grafana writes in place of each GraphQL variable a board document may declare, and
 * the dashboard variables that text needs. A closed list: a document with any other
 * variable fails the generator.
 */
export const INLINE: Record<string, { text: string; uses: string[] }> = {
  from: { text: '"${__timeFrom:date:iso}"', uses: [] },
  to: { text: '"${__timeTo:date:iso}"', uses: [] },
  grain: { text: '${grain}', uses: ['grain'] },
  currency: { text: '"${currency}"', uses: ['currency'] },
  campaign: { text: '"${campaign}"', uses: ['campaign'] },
  // `:json` renders a multi-value selection as a JSON list, which is a GraphQL list literal too;
  // "All" renders the variables' custom all value `null`, which the API reads as "no filter".
  filter: {
    text: '{ country: ${country:json}, channel: ${channel:json}, segment: ${segment:json}, referred: ${referred} }',
    uses: ['country', 'channel', 'segment', 'referred'],
  },
};

export interface BoardDocument {
  /** File name under dashboards/queries, without `.graphql`. */
  name: string;
  /** The operation as written, for running it with real variables. */
  source: string;
  /** The operation with Grafana's text in place of its variables: `body_graphql_query`. */
  grafana: string;
  /** Dashboard variables the inlined text refers to. */
  uses: string[];
}

const TOKEN = (name: string) => `__grafana_${name}__`;

export function loadDocument(name: string, dir: string = QUERIES_DIR): BoardDocument {
  const source = readFileSync(join(dir, `${name}.graphql`), 'utf8');
  const doc = parse(source);
  const ops = doc.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
  if (ops.length !== 1 || doc.definitions.length !== 1) throw new Error(`${name}.graphql must hold exactly one operation and nothing else`);
  const uses = new Set<string>();
  for (const def of ops[0]!.variableDefinitions ?? []) {
    const inline = INLINE[def.variable.name.value];
    if (!inline) throw new Error(`${name}.graphql: no Grafana text for $${def.variable.name.value} (known: ${Object.keys(INLINE).join(', ')})`);
    inline.uses.forEach((u) => uses.add(u));
  }
  // A placeholder enum value keeps the document printable; the Grafana text replaces it after printing.
  const inlined = visit(doc, {
    OperationDefinition: (node) => ({ ...node, variableDefinitions: [] }),
    Variable: (node) => ({ kind: Kind.ENUM, value: TOKEN(node.name.value) }),
  });
  const grafana = print(inlined).replace(/__grafana_(\w+?)__/g, (_m, v: string) => INLINE[v]!.text);
  return { name, source, grafana, uses: [...uses].sort() };
}
