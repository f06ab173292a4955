import { defineConfig } from 'vitest/config';

// End-to-end: real Chromium (Debian's) against web mode with the real backend and SQLite. The
// scenarios in one file share a server and build on each other (a run, then a second, then compare),
// so files run one at a time and tests in a file run in order.
export default defineConfig({
  test: {
    include: ['test/e2e/**/*.test.ts'],
    globalSetup: ['test/e2e/global-setup.ts'],
    pool: 'forks',
    maxWorkers: 1,
    fileParallelism: false,
    testTimeout: 240_000,
    hookTimeout: 180_000,
    reporters: ['default'],
    // A test that asserts nothing passes whatever the code does; make that an error.
    expect: { requireAssertions: true },
  },
});
