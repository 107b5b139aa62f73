import { defineConfig } from 'vitest/config';
import { createRequire } from 'node:module';
import LongFirstSequencer from './tests/sequencer.js';

const require = createRequire(import.meta.url);

export default defineConfig({
  resolve: {
    // graphql must load once: type-graphql (CJS) and our ESM code would otherwise see two realms.
    alias: { graphql: require.resolve('graphql/index.js') },
  },
  test: {
    include: ['tests/**/*.test.ts'],
    // Creates and finally removes the run's folder of per-worker engine directories.
    globalSetup: ['tests/global-setup.ts'],
    pool: 'forks',
    // One chDB engine per process: each worker gets its own data directory (tests/helpers).
    maxWorkers: 2,
    sequence: { sequencer: LongFirstSequencer },
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
