import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { printedSchema } from '../schema/index.js';

// Committed so that clients and reviewers see the API without running the code; tests/schema.test.ts keeps it current.
const file = fileURLToPath(new URL('../schema/schema.graphql', import.meta.url));
writeFileSync(file, await printedSchema());
console.log(`Wrote ${file}`);
