// The esbuild bundles of the desktop app (dist-electron/), shared by scripts/build.mjs and the test
// that checks what the Electron main bundle may load (test/unit/electron/main-bundle.test.ts).
import path from 'node:path';
import { svelteServerEsbuild } from './svelte-server.mjs';

/** Options for every bundle: CommonJS for Electron, npm packages left external so native modules load from node_modules. */
export const commonOptions = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  packages: 'external',
  sourcemap: true,
  logLevel: 'warning',
  // import.meta.url has no CommonJS equivalent; give each bundle its own file URL.
  define: { 'import.meta.url': '__topiaryFileUrl' },
  banner: { js: "const __topiaryFileUrl = require('node:url').pathToFileURL(__filename).href;" },
  // The export report (report-html.ts) renders Svelte components: compiled for the server, bundled with svelte's runtime.
  plugins: [svelteServerEsbuild()],
};

/**
 * name -> esbuild options. `main` is the Electron main process: it must load no tfjs and no native
 * addon (the engine runs in the `engine-job` worker); the workers may.
 */
export function electronBundles(root) {
  const out = path.join(root, 'dist-electron');
  const entry = (name, src, extra = {}) => [name, { ...commonOptions, entryPoints: [path.join(root, src)], outfile: path.join(out, `${name}.cjs`), ...extra }];
  return Object.fromEntries([
    entry('main', 'src-main/electron/main.ts', { external: ['electron'] }),
    entry('preload', 'src-main/electron/preload.ts', { external: ['electron'], packages: undefined }),
    entry('run-job', 'src-main/app/run-job.ts'),
    entry('fit-job', 'src-main/app/fit-job.ts'),
    entry('engine-job', 'src-main/app/engine-job.ts'),
    entry('train-worker', 'src-main/node/train-worker-entry.ts'),
  ]);
}
