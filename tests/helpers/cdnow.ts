import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { prerequisite } from './prerequisite.js';

/** The shared CDNOW files (../shared/datasets/cdnow, or DATASETS_DIR/cdnow); tests skip when absent. */
const datasetsDir = process.env.DATASETS_DIR ?? resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'shared', 'datasets');
export const cdnowDir = join(datasetsDir, 'cdnow');
export const haveCdnow = prerequisite(
  existsSync(join(cdnowDir, 'CDNOW_sample.txt')) && existsSync(join(cdnowDir, 'cdnow_customers_summary.csv')),
  `the CDNOW data set in ${cdnowDir}`,
  'the shared datasets folder, or set DATASETS_DIR',
);

/** CDNOW_sample.txt as text (no header: master_id sample_id yyyymmdd cds dollars). */
export function readCdnowSample(): string {
  return readFileSync(join(cdnowDir, 'CDNOW_sample.txt'), 'utf8');
}

/** The published calibration summary rows: [sample id, frequency, recency, T] in weeks. */
export function readCdnowSummary(): [number, number, number, number][] {
  return readFileSync(join(cdnowDir, 'cdnow_customers_summary.csv'), 'utf8')
    .trim()
    .split(/\r?\n/)
    .slice(1)
    .map((line) => line.split(',').map(Number) as [number, number, number, number]);
}
