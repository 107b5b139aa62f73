import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { generateCode } from '../scripts/codegen/generate.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

describe('typed client', () => {
  it('client/generated/ is what codegen.yml generates from the schema and the operations', async () => {
    // Generated in memory, not written: the committed files are what is compared.
    const outputs = await generateCode(ROOT);
    expect(outputs.length).toBeGreaterThan(0);
    for (const output of outputs) {
      const message = `${output.filename} is stale: run \`npm run codegen\` and commit the result`;
      const file = join(ROOT, output.filename);
      expect(existsSync(file), message).toBe(true);
      expect(readFileSync(file, 'utf8'), message).toBe(output.content);
    }
  });

  it('refuses an operation that asks for a field the schema does not have, naming it', async () => {
    const root = mkdtempSync(join(tmpdir(), 'kpi-codegen-'));
    try {
      cpSync(join(ROOT, 'codegen.yml'), join(root, 'codegen.yml'));
      mkdirSync(join(root, 'schema'));
      cpSync(join(ROOT, 'schema', 'schema.graphql'), join(root, 'schema', 'schema.graphql'));
      mkdirSync(join(root, 'client', 'operations'), { recursive: true });
      writeFileSync(join(root, 'client', 'operations', 'bad.graphql'), 'query Bad { repeatPurchaseRate(from: "2024-01-01T00:00:00Z", to: "2024-02-01T00:00:00Z") { customerz } }');
      await expect(generateCode(root)).rejects.toThrow(/customerz/);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
