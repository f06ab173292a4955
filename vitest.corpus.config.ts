import { defineConfig } from 'vitest/config';
import { svelteServerVite } from './scripts/svelte-server.mjs';

// The real-model corpus (test/fixtures/real-models): every pipeline step on public trained models
// through the CLI. Minutes, not seconds, so `npm test` runs it only with TOPIARY_TEST_CORPUS=1 (CI
// sets it); `npm run test:corpus` runs it alone.
export default defineConfig({
  // The export report renders Svelte components on the server (src-main/node/export/report-html.ts).
  plugins: [svelteServerVite()],
  test: {
    include: ['test/corpus/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 300_000,
    hookTimeout: 120_000,
    reporters: ['default'],
    // A test that asserts nothing passes whatever the code does; make that an error.
    expect: { requireAssertions: true },
  },
});
