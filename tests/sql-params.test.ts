import { describe, expect, it } from 'vitest';
import { Params } from '../loaders/sql.js';

describe('Params', () => {
  it('numbers unnamed values and shares a named one between fragments', () => {
    const p = new Params();
    const asOf = new Date('2024-03-01T00:00:00Z');
    expect(p.add('UInt32', 1)).toBe('{p1:UInt32}');
    expect(p.time(asOf, 'asOf')).toBe("{asOf:DateTime64(3, 'UTC')}");
    expect(p.time(new Date(asOf), 'asOf')).toBe("{asOf:DateTime64(3, 'UTC')}");
    expect(p.values).toEqual({ p1: 1, asOf: '2024-03-01 00:00:00.000' });
  });

  it('refuses to bind a named placeholder again to another value', () => {
    const p = new Params();
    p.time(new Date('2024-03-01T00:00:00Z'), 'asOf');
    expect(() => p.time(new Date('2024-04-01T00:00:00Z'), 'asOf')).toThrow(/"asOf" is already bound to "2024-03-01 00:00:00.000", not "2024-04-01 00:00:00.000"/);
  });
});
