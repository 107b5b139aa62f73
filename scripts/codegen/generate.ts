import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import * as add from '@graphql-codegen/add';
import { codegen } from '@graphql-codegen/core';
import type { CodegenPlugin, Types } from '@graphql-codegen/plugin-helpers';
import * as typedDocumentNode from '@graphql-codegen/typed-document-node';
import * as typescriptOperations from '@graphql-codegen/typescript-operations';
import { buildSchema, parse } from 'graphql';
import { parse as parseYaml } from 'yaml';

/**
 * graphql-codegen driven through its core with the plugins codegen.yml names, instead of its
 * CLI: the CLI's URL, GitHub and Apollo-engine loaders (which this project never uses) need
 * Node 22 and made every `npm ci` on Node 20 print 85 EBADENGINE warnings. codegen.yml stays the
 * one description of what is generated; documents are validated against the schema as before.
 */
const PLUGINS: Record<string, CodegenPlugin> = {
  add,
  'typescript-operations': typescriptOperations,
  'typed-document-node': typedDocumentNode,
};

interface CodegenYml {
  schema: string;
  documents: string[];
  generates: Record<string, { plugins: (string | Types.ConfiguredPlugin)[]; config?: Record<string, unknown> }>;
}

/** `dir/**\/*.graphql`: every .graphql file under dir, in a stable order. */
function expand(root: string, pattern: string): string[] {
  const m = /^(.*?)\/\*\*\/\*\.graphql$/.exec(pattern);
  if (!m) throw new Error(`codegen.yml: documents pattern ${JSON.stringify(pattern)} is not of the form <dir>/**/*.graphql`);
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.graphql')) files.push(path);
    }
  };
  try {
    walk(join(root, m[1]!));
  } catch (e) {
    // A folder that does not exist matches nothing, like the CLI's glob with ignoreNoDocuments.
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  return files;
}

/** What codegen.yml generates, in memory: file names relative to root and their content. */
export async function generateCode(root: string): Promise<{ filename: string; content: string }[]> {
  const config = parseYaml(readFileSync(join(root, 'codegen.yml'), 'utf8')) as CodegenYml;
  const schemaAst = buildSchema(readFileSync(join(root, config.schema), 'utf8'));
  const documents = config.documents
    .flatMap((pattern) => expand(root, pattern))
    .map((file) => ({ location: relative(root, file), document: parse(readFileSync(file, 'utf8')) }));
  const outputs = [];
  for (const [filename, target] of Object.entries(config.generates)) {
    const plugins = target.plugins.map((p): Types.ConfiguredPlugin => (typeof p === 'string' ? { [p]: {} } : p));
    const content = await codegen({
      filename,
      schema: parse(readFileSync(join(root, config.schema), 'utf8')),
      schemaAst,
      documents,
      plugins,
      pluginMap: PLUGINS,
      config: target.config ?? {},
    });
    outputs.push({ filename, content });
  }
  return outputs;
}
