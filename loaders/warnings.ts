/**
 * Answers that are right but probably not what the caller meant (a filter value no customer
 * has, a currency without purchases). Loaders and resolvers add them to the request's
 * collector; the transport decides how to show them (GraphQL: `extensions.warnings`, see
 * server/app.ts). A warning never changes the data.
 */
export interface Warning {
  code: 'UNKNOWN_FILTER_VALUE' | 'CURRENCY_WITHOUT_PURCHASES';
  message: string;
  /** The argument it is about, as a path: `filter.channel`, `currency`. */
  field: string;
  /** What the store does hold, most common first, at most KNOWN_VALUES_SHOWN. */
  knownValues: string[];
}

/** Enough to spot a typo without turning a warning into a data dump. */
export const KNOWN_VALUES_SHOWN = 20;

/** One request's warnings; the same warning raised twice (aliases, a snapshot's parts) is kept once. */
export class Warnings {
  private readonly byKey = new Map<string, Warning>();

  add(w: Warning): void {
    const key = `${w.code}\u0000${w.field}\u0000${w.message}`;
    if (!this.byKey.has(key)) this.byKey.set(key, { ...w, knownValues: w.knownValues.slice(0, KNOWN_VALUES_SHOWN) });
  }

  list(): Warning[] {
    return [...this.byKey.values()];
  }
}
