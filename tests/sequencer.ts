import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * The files that start service processes again and again, longest first. Vitest orders files by
 * their last duration only when its results cache has one (not in a fresh CI checkout, where it
 * orders by file size): these would then start late and one worker would run them alone at the
 * end. Started first, the short files fill the other worker meanwhile.
 */
const LONG_FIRST = ['state-crash', 'scripts', 'ingest-cli', 'lifecycle', 'startup', 'ingest-crash'].map((n) => `tests/${n}.test.ts`);

export default class LongFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const rank = (f: TestSpecification) => {
      const i = LONG_FIRST.findIndex((n) => f.moduleId.endsWith(n));
      return i === -1 ? LONG_FIRST.length : i;
    };
    // Array.prototype.sort is stable: the rest keeps vitest's order.
    return sorted.sort((a, b) => rank(a) - rank(b));
  }
}
