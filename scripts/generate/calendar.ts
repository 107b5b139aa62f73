/**
 * Day-indexed lookups over the generated span. Formatting through `Date#toISOString` per
 * event costs an allocation and a calendar computation; here a timestamp becomes a cached
 * 'YYYY-MM-DDT' prefix plus table look-ups for the clock part.
 */
export const DAY_MS = 86_400_000;

const PAD2 = Array.from({ length: 100 }, (_, i) => String(i).padStart(2, '0'));
const PAD3 = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));

export class Calendar {
  /** UTC midnight of the day holding the span's start. */
  readonly firstDayMs: number;
  readonly days: number;
  private readonly prefixes: string[] = [];
  private readonly monthIndex: Int32Array;
  private readonly quarterLabels = new Map<number, string>();

  constructor(startMs: number, endMs: number) {
    this.firstDayMs = Math.floor(startMs / DAY_MS) * DAY_MS;
    this.days = Math.ceil((endMs - this.firstDayMs) / DAY_MS) + 1;
    this.monthIndex = new Int32Array(this.days);
    for (let d = 0; d < this.days; d++) {
      const date = new Date(this.firstDayMs + d * DAY_MS);
      this.prefixes.push(date.toISOString().slice(0, 11));
      this.monthIndex[d] = date.getUTCFullYear() * 12 + date.getUTCMonth();
    }
  }

  day(ms: number): number {
    return Math.floor((ms - this.firstDayMs) / DAY_MS);
  }

  /** 0 = January. */
  monthOfYear(day: number): number {
    return this.monthIndex[day]! % 12;
  }

  /** Weekday of a day index, 0 = Sunday. */
  weekday(day: number): number {
    return (Math.floor(this.firstDayMs / DAY_MS) + day + 4) % 7;
  }

  /** `YYYY-MM-DDTHH:mm:ss.sssZ` for an instant inside the span. */
  iso(ms: number): string {
    let r = Math.floor(ms) - this.firstDayMs;
    const d = Math.floor(r / DAY_MS);
    r -= d * DAY_MS;
    const h = Math.floor(r / 3_600_000);
    r -= h * 3_600_000;
    const m = Math.floor(r / 60_000);
    r -= m * 60_000;
    const s = Math.floor(r / 1000);
    return `${this.prefixes[d]!}${PAD2[h]!}:${PAD2[m]!}:${PAD2[s]!}.${PAD3[r - s * 1000]!}Z`;
  }

  /** `YYYY-qN` of an instant inside the span. */
  quarter(ms: number): string {
    const month = this.monthIndex[this.day(ms)]!;
    const key = Math.floor(month / 3);
    let label = this.quarterLabels.get(key);
    if (label === undefined) {
      label = `${Math.floor(month / 12)}-q${(month % 12 - (month % 3)) / 3 + 1}`;
      this.quarterLabels.set(key, label);
    }
    return label;
  }
}

/** Cents as a decimal string with two decimals: 1234 -> '12.34'. */
export function formatCents(cents: number): string {
  return `${Math.floor(cents / 100)}.${PAD2[cents % 100]!}`;
}
