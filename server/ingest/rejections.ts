// The rejected part of an ingest answer (spec section 10), shared by POST /v1/events and
// the GraphQL ingest mutations. Every invalid line is counted; only the first
// MAX_LISTED_REJECTED are kept, each with bounded error texts, so neither the answer nor
// the memory behind it grows with the number of invalid lines a client sends.

export interface RejectedLine {
  line: number;
  eventId: string | null;
  errors: string[];
}

export const MAX_LISTED_REJECTED = 1000;
/** The validator writes at most about a dozen texts per line; this only guards the answer's size. */
export const MAX_ERRORS_PER_LINE = 20;
export const MAX_ERROR_CHARS = 300;

function boundedErrors(errors: string[]): string[] {
  const kept = errors.length > MAX_ERRORS_PER_LINE ? errors.slice(0, MAX_ERRORS_PER_LINE - 1) : errors;
  const out = kept.map((e) => (e.length > MAX_ERROR_CHARS ? `${e.slice(0, MAX_ERROR_CHARS - 1)}…` : e));
  if (kept !== errors) out.push(`and ${errors.length - kept.length} more errors`);
  return out;
}

export class Rejections {
  /** The first MAX_LISTED_REJECTED invalid lines, in the order they were added (line order). */
  readonly listed: RejectedLine[] = [];
  /** Every invalid line. */
  count = 0;

  add(line: number, eventId: string | null, errors: string[]): void {
    this.count++;
    if (this.listed.length < MAX_LISTED_REJECTED) this.listed.push({ line, eventId, errors: boundedErrors(errors) });
  }
}
