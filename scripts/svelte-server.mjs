// Svelte components rendered on the server (the HTML export report, src-main/node/export/report-html.ts,
// renders the run detail's components with `svelte/server`): one compile function, and the three
// adapters that let each way of running Topiary import a `.svelte` file from Node code:
//   - tsx (bin/topiary.mjs, worker-boot.mjs): a Node module hook, registerSvelteServer();
//   - Vitest: a Vite plugin, svelteServerVite() in vitest.config.ts;
//   - the built app (dist-electron/): an esbuild plugin, svelteServerEsbuild() in bundles.mjs.
// The renderer's own build (vite.config.ts) keeps compiling the same files for the browser.
import { createRequire, register } from 'node:module';
import path from 'node:path';

/**
 * Compiles one component for `svelte/server`'s render(). `css: 'injected'`: a component's <style>
 * comes back in render()'s `head`, so a rendered page carries its own CSS and needs no stylesheet file.
 */
export async function compileServer(source, filename) {
  // Loaded on first use: a CLI command that renders no report never pays for the compiler.
  const { compile } = await import('svelte/compiler');
  return compile(source, { filename, generate: 'server', css: 'injected', dev: false }).js;
}

/** Lets tsx-run Node code (and its worker threads, each registering again) import `.svelte` files. */
export function registerSvelteServer() {
  register('./svelte-server-hooks.mjs', import.meta.url);
}

/** Vite/Vitest: compiles `.svelte` for the server (Node tests render components; none mounts them). */
export function svelteServerVite() {
  return {
    name: 'topiary-svelte-server',
    enforce: 'pre',
    async transform(code, id) {
      if (!id.endsWith('.svelte')) return null;
      const js = await compileServer(code, id);
      return { code: js.code, map: js.map };
    },
  };
}

/** Packages the server-rendered components need at run time: devDependencies, so bundled rather than left external. */
const VIEW_PACKAGES = /^(svelte|chart\.js)(\/|$)/;

/**
 * esbuild: compiles `.svelte` for the server and bundles what the compiled components import from
 * npm (svelte's server runtime, chart.js, and their own imports), since the packaged app ships only
 * `dependencies` and these are devDependencies. Other npm packages stay external as before.
 */
export function svelteServerEsbuild() {
  return {
    name: 'topiary-svelte-server',
    setup(build) {
      build.onResolve({ filter: /^[^./]/ }, (args) => {
        // Whatever esbuild already reads from node_modules was bundled on purpose: bundle its imports too.
        const fromBundled = args.importer.includes(`${path.sep}node_modules${path.sep}`);
        if (!VIEW_PACKAGES.test(args.path) && !fromBundled) return undefined;
        if (args.path.startsWith('node:')) return undefined;
        const req = createRequire(args.importer || path.join(args.resolveDir, 'x.js'));
        return { path: req.resolve(args.path) };
      });
      build.onLoad({ filter: /\.svelte$/ }, async (args) => {
        const fs = await import('node:fs/promises');
        const js = await compileServer(await fs.readFile(args.path, 'utf8'), args.path);
        return { contents: js.code, loader: 'js', resolveDir: path.dirname(args.path) };
      });
    },
  };
}
