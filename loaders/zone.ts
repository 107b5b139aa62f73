import { skippedDays } from './calendar.js';
import { Grain, type Zone } from './grain.js';
import type { Params } from './sql.js';

/**
 * Binds `timezone` for the period arithmetic of `grain` (grain.ts, Zone): its name, and for DAY
 * periods the local days it skipped, if any (looked up once per zone, calendar.ts).
 */
export function zoneParams(p: Params, grain: Grain, timezone: string): Zone {
  const tz = p.add('String', timezone, 'tz');
  const days = grain === Grain.DAY && timezone !== 'UTC' ? skippedDays(timezone) : [];
  return { tz, skipped: days.length === 0 ? null : p.add('Array(Int32)', days, 'tzSkipped') };
}
