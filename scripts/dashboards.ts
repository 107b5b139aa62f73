// npm run dashboards: writes the Grafana boards built in dashboards/src to dashboards/boards.
// tests/dashboards.test.ts fails when the committed files are stale.
import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildBoards } from '../dashboards/src/boards.js';

const dir = fileURLToPath(new URL('../dashboards/boards/', import.meta.url));
const boards = buildBoards();
const keep = new Set(boards.map((b) => b.file));
// A board renamed or removed in the source must not linger in Grafana's folder.
for (const f of readdirSync(dir)) if (f.endsWith('.json') && !keep.has(f)) rmSync(join(dir, f));
for (const b of boards) writeFileSync(join(dir, b.file), b.json);
console.log(`Wrote ${boards.length} boards to ${dir}`);
