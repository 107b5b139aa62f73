import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * One parent folder per test run for the workers' engine directories (tests/helpers/service.ts),
 * removed when the run ends: each worker's chDB data would otherwise stay in the temp folder.
 * Workers are forked after this runs, so they inherit the variable.
 */
export default function setup(): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'kpi-test-run-'));
  process.env.KPI_TEST_RUN_DIR = dir;
  return () => rmSync(dir, { recursive: true, force: true });
}
