import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { printedSchema } from '../schema/index.js';

const SCHEMA_FILE = fileURLToPath(new URL('../schema/schema.graphql', import.meta.url));

describe('committed schema', () => {
  it('schema/schema.graphql is what the code builds', async () => {
    const message = 'schema/schema.graphql differs from the schema the code builds: run `npm run schema` and commit the result';
    expect(existsSync(SCHEMA_FILE), message).toBe(true);
    expect(readFileSync(SCHEMA_FILE, 'utf8'), message).toBe(await printedSchema());
  });
});
