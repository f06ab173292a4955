import tseslint from 'typescript-eslint';
import layering from './eslint/layering.js';

// Where code may run is decided by its folder: engine/ and common/ are pure TypeScript over tfjs,
// importable by a worker, a test, the renderer or a browser.
const nodeOnly = [
  { name: 'electron', message: 'engine/ and common/ stay pure: no Electron.' },
  { name: 'better-sqlite3', message: 'engine/ and common/ stay pure: SQL lives in store/.' },
  { name: 'fs', message: 'engine/ and common/ stay pure: file IO lives in node/.' },
  { name: 'path', message: 'engine/ and common/ stay pure.' },
  { name: 'os', message: 'engine/ and common/ stay pure.' },
  { name: 'worker_threads', message: 'engine/ and common/ stay pure.' },
  { name: 'child_process', message: 'engine/ and common/ stay pure.' },
];

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'dist-electron/', 'dist-renderer/', 'release/', 'test-output/', 'src-renderer/**/*.svelte', 'resources/', 'scratch/', 'native/build/'] },
  ...tseslint.configs.recommended,
  {
    plugins: { topiary: { rules: { layering } } },
    rules: {
      'topiary/layering': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
  {
    files: ['src-main/engine/**/*.ts', 'src-main/common/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { paths: nodeOnly, patterns: [{ group: ['node:*'], message: 'engine/ and common/ stay pure: no node:* modules.' }, { group: ['**/node/**', '**/store/**', '**/app/**', '**/jobs/**', '**/electron/**', '**/web/**', '**/cli/**'], message: 'engine/ and common/ depend on nothing above them.' }] }],
      'no-restricted-globals': ['error', { name: 'process', message: 'engine/ and common/ stay pure: take settings as arguments.' }, { name: 'require', message: 'engine/ and common/ stay pure.' }, { name: 'document', message: 'no DOM in engine/ and common/.' }, { name: 'window', message: 'no DOM in engine/ and common/.' }],
    },
  },
  {
    // The GPU engine page runs in a browser window: the engine and the DOM, nothing of Node.
    files: ['src-main/gpu/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { paths: nodeOnly, patterns: [{ group: ['node:*'], message: 'gpu/ runs in a browser window: no node:* modules.' }] }],
      'no-restricted-globals': ['error', { name: 'process', message: 'gpu/ runs in a browser window: no process.' }, { name: 'require', message: 'gpu/ runs in a browser window.' }],
    },
  },
  {
    files: ['src-main/common/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { paths: nodeOnly, patterns: [{ group: ['node:*'], message: 'common/ stays pure.' }, { group: ['**/engine/**', '**/node/**', '**/store/**', '**/app/**', '**/jobs/**', '**/electron/**', '**/web/**', '**/cli/**', '@tensorflow/*'], message: 'common/ depends on nothing.' }] }],
    },
  },
);
