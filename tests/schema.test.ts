import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildSchema, isNonNullType } from 'graphql';
import { describe, expect, it } from 'vitest';
import { printedSchema } from '../schema/index.js';

const SCHEMA_FILE = fileURLToPath(new URL('../schema/schema.graphql', import.meta.url));

describe('committed schema', () => {
  it('schema/schema.graphql is what the code builds', async () => {
    const message = 'schema/schema.graphql differs from the schema the code builds: run `npm run schema` and commit the result';
    expect(existsSync(SCHEMA_FILE), message).toBe(true);
    expect(readFileSync(SCHEMA_FILE, 'utf8'), message).toBe(await printedSchema());
  });

  it('gives no default to a required argument in any description', async () => {
    const schema = buildSchema(await printedSchema());
    const claims: string[] = [];
    for (const field of Object.values(schema.getQueryType()!.getFields())) {
      for (const arg of field.args) {
        if (!isNonNullType(arg.type) || arg.defaultValue !== undefined) continue;
        const saysDefault = new RegExp(`${arg.name}\\W*\\(?\\s*defaults?\\b`, 'i');
        if (saysDefault.test(field.description ?? '') || /\bdefault/i.test(arg.description ?? '')) claims.push(`${field.name}(${arg.name})`);
      }
    }
    expect(claims).toEqual([]);
  });
});
