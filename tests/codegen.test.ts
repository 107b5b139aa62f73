import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generate } from '@graphql-codegen/cli';
import type { Types } from '@graphql-codegen/plugin-helpers';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

describe('typed client', () => {
  it('client/generated/ is what codegen.yml generates from the schema and the operations', async () => {
    const config = parse(readFileSync(join(ROOT, 'codegen.yml'), 'utf8')) as Types.Config;
    // Generated in memory, not written: the committed files are what is compared.
    const outputs = await generate({ ...config, cwd: ROOT, silent: true }, false);
    expect(outputs.length).toBeGreaterThan(0);
    for (const output of outputs) {
      const message = `${output.filename} is stale: run \`npm run codegen\` and commit the result`;
      const file = join(ROOT, output.filename);
      expect(existsSync(file), message).toBe(true);
      expect(readFileSync(file, 'utf8'), message).toBe(output.content);
    }
  });
});
