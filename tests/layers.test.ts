import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../scripts/lib/process.js';

// Layers point one way (docs/architecture.md, "Layers"): HTTP and jobs (server/) -> schema/ ->
// loaders/ -> storage (server/storage/). Checked on the folder graph of relative imports.

const SOURCES = ['server', 'schema', 'loaders', 'scripts', 'bench', 'client', 'dashboards'];
const IMPORT = /(?:import|export)\s[^'"]*?from\s+['"](\.{1,2}\/[^'"]+)['"]|import\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g;

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'generated' ? [] : sourceFiles(path);
    return e.name.endsWith('.ts') ? [path] : [];
  });
}

/** folder -> folders its files import from (other than itself). */
function folderGraph(): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  for (const file of SOURCES.flatMap(sourceFiles)) {
    const from = dirname(file);
    for (const m of readFileSync(join(ROOT, file), 'utf8').matchAll(IMPORT)) {
      const to = dirname(relative(ROOT, resolve(ROOT, from, m[1] ?? m[2]!)));
      if (to === from) continue;
      if (!graph.has(from)) graph.set(from, new Set());
      graph.get(from)!.add(to);
    }
  }
  return graph;
}

function cycle(graph: Map<string, Set<string>>): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (n: string): string[] | undefined => {
    if (state.get(n) === 'done') return undefined;
    if (state.get(n) === 'open') return [...path.slice(path.indexOf(n)), n];
    state.set(n, 'open');
    path.push(n);
    for (const m of graph.get(n) ?? []) {
      const found = visit(m);
      if (found) return found;
    }
    path.pop();
    state.set(n, 'done');
    return undefined;
  };
  for (const n of graph.keys()) {
    const found = visit(n);
    if (found) return found;
  }
  return undefined;
}

describe('layers', () => {
  const graph = folderGraph();

  it('have no import cycle between folders', () => {
    expect(cycle(graph)).toBeUndefined();
  });

  it('keep storage and the CLV model maths at the bottom: they import no other folder of the project', () => {
    expect([...(graph.get('server/storage') ?? [])]).toEqual([]);
    expect([...(graph.get('server/clv-model') ?? [])]).toEqual([]);
  });

  it('keep loaders below schema and HTTP, and schema below HTTP', () => {
    const reaches = (from: string, to: string) => [...(graph.get(from) ?? [])].some((d) => d === to || d.startsWith(`${to}/`));
    expect(reaches('loaders', 'schema')).toBe(false);
    expect([...(graph.get('loaders') ?? [])].filter((d) => d.startsWith('server') && !['server/storage', 'server/clv-model'].includes(d))).toEqual([]);
    expect([...(graph.get('schema') ?? [])].filter((d) => d === 'server' || d === 'server/snapshots')).toEqual([]);
  });
});
