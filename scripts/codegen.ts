// `npm run codegen`: writes the typed documents codegen.yml describes (client/generated/).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateCode } from './codegen/generate.js';

const root = fileURLToPath(new URL('..', import.meta.url));
try {
  for (const { filename, content } of await generateCode(root)) {
    writeFileSync(join(root, filename), content);
    console.log(`wrote ${filename}`);
  }
} catch (e) {
  // A document that does not match the schema: graphql's own message names the field and file.
  console.error(`codegen failed: ${(e as Error).message}`);
  process.exit(1);
}
