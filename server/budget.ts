import type { ApolloServerPlugin } from '@apollo/server';
import {
  getArgumentValues,
  getDirectiveValues,
  getVariableValues,
  GraphQLError,
  GraphQLIncludeDirective,
  GraphQLSkipDirective,
  Kind,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLObjectType,
  type SelectionNode,
  type SelectionSetNode,
} from 'graphql';
import { estimateCost, type Cost } from '../schema/cost.js';
import type { Context } from '../schema/context.js';

export interface Budget {
  maxRows: number;
  maxStatements: number;
}

type Variables = Record<string, unknown>;

function included(node: SelectionNode, variables: Variables): boolean {
  if (getDirectiveValues(GraphQLSkipDirective, node, variables)?.if === true) return false;
  return getDirectiveValues(GraphQLIncludeDirective, node, variables)?.if !== false;
}

/**
 * The root fields that will execute, by response key, as graphql-js collects them: fragments
 * and inline fragments flattened, @skip/@include applied, each fragment once. Validation has
 * made fields with one response key identical, so each key executes once.
 */
function rootFields(set: SelectionSetNode, fragments: Map<string, FragmentDefinitionNode>, variables: Variables, out = new Map<string, FieldNode>(), seen = new Set<string>()) {
  for (const s of set.selections) {
    if (!included(s, variables)) continue;
    if (s.kind === Kind.FIELD) {
      const key = s.alias?.value ?? s.name.value;
      if (!out.has(key)) out.set(key, s);
    } else if (s.kind === Kind.INLINE_FRAGMENT) {
      rootFields(s.selectionSet, fragments, variables, out, seen);
    } else if (!seen.has(s.name.value)) {
      seen.add(s.name.value);
      const fragment = fragments.get(s.name.value);
      if (fragment) rootFields(fragment.selectionSet, fragments, variables, out, seen);
    }
  }
  return out;
}

function over(kind: 'result rows' | 'SQL statements', variable: string, limit: number, asked: number, largest: [string, number]): string {
  return (
    `This document asks for up to ${asked} ${kind} and the per-request budget is ${limit} (${variable}); ` +
    `the largest field is "${largest[0]}" with ${largest[1]}. Ask for fewer periods, ids or aliases, or split the document into several requests.`
  );
}

/**
 * The per-request budget: before anything runs, the cost model (schema/cost.ts) estimates
 * each root field's result rows and SQL statements from its arguments, with the variables
 * resolved, and a document whose sums pass GRAPHQL_MAX_RESULT_ROWS or GRAPHQL_MAX_STATEMENTS
 * is refused whole. Armor's cost limit only counts fields: thirty aliases of one KPI cost it
 * thirty, whether each asks for one period or 47 000.
 */
export function budgetPlugin(budget: Budget): ApolloServerPlugin<Context> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ operation, document, request, schema, contextValue }) {
          const root: GraphQLObjectType | null | undefined = operation && schema.getRootType(operation.operation);
          if (!operation || !root) return;
          const coerced = getVariableValues(schema, operation.variableDefinitions ?? [], request.variables ?? {});
          // Execution answers bad variables itself, and then runs nothing.
          if (coerced.errors) return;
          const fragments = new Map(
            document.definitions.filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION).map((d) => [d.name.value, d]),
          );
          const now = contextValue.now();
          const total: Cost = { rows: 0, statements: 0 };
          let largestRows: [string, number] = ['', 0];
          let largestStatements: [string, number] = ['', 0];
          for (const [key, node] of rootFields(operation.selectionSet, fragments, coerced.coerced)) {
            const def = root.getFields()[node.name.value];
            if (!def) continue;
            let args: Record<string, unknown>;
            try {
              args = getArgumentValues(def, node, coerced.coerced);
            } catch {
              continue; // the resolver is never reached; execution reports the argument
            }
            const cost = estimateCost(node.name.value, args, now);
            const label = key === node.name.value ? key : `${key}: ${node.name.value}`;
            total.rows += cost.rows;
            total.statements += cost.statements;
            if (cost.rows > largestRows[1]) largestRows = [label, cost.rows];
            if (cost.statements > largestStatements[1]) largestStatements = [label, cost.statements];
          }
          const messages: string[] = [];
          if (total.rows > budget.maxRows) messages.push(over('result rows', 'GRAPHQL_MAX_RESULT_ROWS', budget.maxRows, total.rows, largestRows));
          if (total.statements > budget.maxStatements) {
            messages.push(over('SQL statements', 'GRAPHQL_MAX_STATEMENTS', budget.maxStatements, total.statements, largestStatements));
          }
          if (messages.length === 0) return;
          throw new GraphQLError(messages.join(' '), {
            extensions: {
              code: 'BAD_USER_INPUT',
              budget: { rows: total.rows, maxRows: budget.maxRows, statements: total.statements, maxStatements: budget.maxStatements },
              http: { status: 400 },
            },
          });
        },
      };
    },
  };
}
