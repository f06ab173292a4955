/**
 * Topiary's layering, as one ESLint rule: which folder may import which. A table (not
 * `no-restricted-imports` patterns) because the rule must also see dynamic `import('…')` and
 * `import('…').Type` (the CLI loads its services lazily), and must resolve relative paths to the
 * folder they land in. Dependencies point one way:
 *
 *   electron, web, cli  ->  app  ->  jobs, store, node  ->  engine  ->  common
 *   src-renderer        ->  common
 *   node                ->  src-renderer (server-side rendering of the export report's components)
 *
 * Packages with one home: `electron` only in src-main/electron/, `better-sqlite3` only in
 * src-main/store/. Purity of engine/ and common/ (no node:*, no DOM) is no-restricted-imports'
 * job in eslint.config.js.
 */
import path from 'node:path';

/** Folders each folder may import (itself included). */
export const LAYERS = {
  common: ['common'],
  engine: ['engine', 'common'],
  // renderer: the HTML export report renders the run detail's Svelte components on the server
  // (node/export/report-html.ts); the renderer itself still imports only common/.
  node: ['node', 'engine', 'common', 'renderer'],
  store: ['store', 'common'],
  jobs: ['jobs', 'common'],
  app: ['app', 'jobs', 'store', 'node', 'engine', 'common'],
  cli: ['cli', 'app', 'node', 'web', 'common'],
  web: ['web', 'common'],
  electron: ['electron', 'app', 'common'],
  renderer: ['renderer', 'common'],
  // The GPU engine page (gpu.html): the engine in a browser window, on WebGPU/WebGL.
  gpu: ['gpu', 'engine', 'common'],
};

/** Packages that only one folder may import. */
export const PACKAGE_HOMES = { electron: 'electron', 'better-sqlite3': 'store' };

/** The layer a file belongs to, from its path relative to the project root; undefined outside them. */
export function layerOf(rel) {
  const parts = rel.split(/[\\/]/);
  if (parts[0] === 'src-renderer') return 'renderer';
  if (parts[0] === 'src-main' && parts[1] in LAYERS && parts.length > 2) return parts[1];
  return undefined;
}

export default {
  meta: {
    type: 'problem',
    docs: { description: 'Imports follow the folder layering of ARCHITECTURE.md' },
    schema: [],
    messages: {
      folder: '{{from}}/ may not import {{to}}/ (allowed: {{allowed}}). See eslint/layering.js.',
      pkg: '{{name}} may only be imported in src-main/{{home}}/.',
    },
  },
  create(context) {
    const root = context.cwd;
    const file = context.filename;
    const from = layerOf(path.relative(root, file));
    if (!from) return {};
    const check = (node, source) => {
      if (typeof source !== 'string') return;
      if (source.startsWith('.')) {
        const to = layerOf(path.relative(root, path.resolve(path.dirname(file), source)));
        if (to && !LAYERS[from].includes(to)) {
          context.report({ node, messageId: 'folder', data: { from, to, allowed: LAYERS[from].join(', ') } });
        }
        return;
      }
      const name = source.startsWith('@') ? source.split('/').slice(0, 2).join('/') : source.split('/')[0];
      const home = PACKAGE_HOMES[name];
      if (home && from !== home) context.report({ node, messageId: 'pkg', data: { name, home } });
    };
    const literal = (n) => (n && n.type === 'Literal' ? n.value : undefined);
    return {
      ImportDeclaration: (n) => check(n, n.source.value),
      ExportNamedDeclaration: (n) => n.source && check(n, n.source.value),
      ExportAllDeclaration: (n) => check(n, n.source.value),
      ImportExpression: (n) => check(n, literal(n.source)),
      // `source` in newer typescript-eslint, `argument` (a literal type) before.
      TSImportType: (n) => {
        const arg = n.source ?? n.argument;
        check(n, literal(arg?.literal ?? arg));
      },
      TSExternalModuleReference: (n) => check(n, literal(n.expression)),
    };
  },
};
