import { defineConfig } from 'vitest/config';
import { svelteServerVite } from './scripts/svelte-server.mjs';

export default defineConfig({
  // The export report renders Svelte components on the server (src-main/node/export/report-html.ts).
  plugins: [svelteServerVite()],
  test: {
    include: ['test/unit/**/*.test.ts', 'test/integration/**/*.test.ts', 'test/hostile/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    reporters: ['default'],
    // A test that asserts nothing passes whatever the code does; make that an error.
    expect: { requireAssertions: true },
    setupFiles: ['test/support/tensor-leaks.ts'],
  },
});
