import { setImmediate as yieldToEventLoop } from 'node:timers/promises';

function holdsContainer(v: object): boolean {
  for (const x of Object.values(v)) if (x !== null && typeof x === 'object') return true;
  return false;
}

/**
 * JSON text in pieces: arrays element by element, objects that hold objects or arrays key by
 * key, and everything else (a row of scalars) whole.
 */
function* pieces(v: unknown): Generator<string> {
  if (Array.isArray(v)) {
    yield '[';
    for (let i = 0; i < v.length; i++) {
      if (i > 0) yield ',';
      yield* pieces(v[i] === undefined ? null : v[i]);
    }
    yield ']';
  } else if (v !== null && typeof v === 'object' && holdsContainer(v)) {
    let sep = '{';
    for (const [k, x] of Object.entries(v)) {
      if (x === undefined) continue;
      yield `${sep}${JSON.stringify(k)}:`;
      sep = ',';
      yield* pieces(x);
    }
    yield sep === '{' ? '{}' : '}';
  } else {
    yield JSON.stringify(v) ?? 'null';
  }
}

/**
 * JSON.stringify's text, produced in slices of at most `sliceMs` with the event loop let run
 * between them: one JSON.stringify of a 20 000-row answer holds the loop long enough to
 * make /healthz wait (docs/performance.md, "Load that keys allow").
 */
export async function stringifyYielding(value: unknown, sliceMs = 5): Promise<string> {
  const out: string[] = [];
  let sliceStart = performance.now();
  for (const piece of pieces(value)) {
    out.push(piece);
    if (performance.now() - sliceStart > sliceMs) {
      await yieldToEventLoop();
      sliceStart = performance.now();
    }
  }
  return out.join('');
}
