import { describe, expect, it } from 'vitest';
import { stringifyYielding } from '../server/json.js';

describe('answers serialized in slices', () => {
  it('produces exactly the text of JSON.stringify', async () => {
    const rows = Array.from({ length: 5_000 }, (_, i) => ({ periodStart: `2024-01-${i}`, rate: i / 7, missing: undefined, churn: null }));
    const values: unknown[] = [
      null,
      'a "quoted" \u2028 line',
      [],
      {},
      [1, undefined, null, [2, [3]]],
      { a: undefined, b: [1, { c: [2, 3], d: undefined }], e: { f: 1 }, g: [] },
      { data: { a0: rows, a1: { cohorts: [{ size: 1, cells: rows.slice(0, 3) }] } } },
      { data: null, errors: [{ message: 'm', path: ['a0', 3], extensions: { code: 'BAD_USER_INPUT' } }] },
    ];
    for (const v of values) expect(await stringifyYielding(v)).toBe(JSON.stringify(v));
  });

  it('lets the event loop run between slices of a large answer', async () => {
    const rows = Array.from({ length: 200_000 }, (_, i) => ({ i, s: 'x'.repeat(20) }));
    let turns = 0;
    const timer = setInterval(() => turns++, 0);
    await stringifyYielding({ data: { rows } }, 0);
    clearInterval(timer);
    expect(turns).toBeGreaterThan(0);
  });
});
