/**
 * Loads Google's LiteRT runtime (npm `@litertjs/core`, WASM) inside Node so that exported .tflite
 * files are checked by an independent runtime rather than by the code that wrote them.
 *
 * The package targets browsers and workers: its loader calls `importScripts` (or adds a <script>),
 * reads `self.ModuleFactory`, and the Emscripten glue finds its .wasm through `__dirname` and
 * `require('node:fs')`. A small global shim provides exactly those, once per process.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import fs from 'node:fs';
import vm from 'node:vm';
import { TopiaryError } from '../../common/errors';

const require = createRequire(import.meta.url);

export type LiteRtModule = typeof import('@litertjs/core');

export interface LiteRtHandle {
  lib: LiteRtModule;
  /** Version of the @litertjs/core package that was loaded. */
  version: string;
  wasmDir: string;
}

let loading: Promise<LiteRtHandle> | undefined;

/** The runtime's recent log lines (its INFO chatter is kept out of the console; errors explain failures). */
const recentLog: string[] = [];

/** Last lines LiteRT logged, most recent last; used to explain a failed load. */
export function liteRtRecentLog(): string[] {
  return [...recentLog];
}

function remember(line: string): void {
  recentLog.push(line);
  if (recentLog.length > 50) recentLog.shift();
  if (process.env.TOPIARY_LITERT_LOG === '1') console.error(line);
}

/** Folder holding the LiteRT .js/.wasm pairs inside node_modules. */
export function liteRtWasmDir(): string {
  const pkgJson = require.resolve('@litertjs/core/package.json');
  return path.join(path.dirname(pkgJson), 'wasm');
}

/**
 * Installs the globals the loader needs and returns a function that removes the ones that other
 * Emscripten modules read to detect a worker (tfjs-backend-wasm checks `typeof importScripts`).
 * `require` stays: the glue may call it lazily (node:crypto) after loading.
 */
function installShim(wasmDir: string): () => void {
  const g = globalThis as Record<string, unknown>;
  const added: string[] = [];
  const set = (key: string, value: unknown): void => {
    if (g[key] !== undefined) return;
    g[key] = value;
    added.push(key);
  };
  set('self', globalThis);
  // The Emscripten glue runs as a classic script, so it sees globals only, not module scope.
  set('require', require);
  set('__dirname', wasmDir);
  // Emscripten reads print/printErr from a global Module object handed to its factory.
  set('Module', { print: remember, printErr: remember });
  set('importScripts', (...urls: string[]) => {
    for (const url of urls) {
      const file = url.startsWith('file:') ? new URL(url).pathname : url;
      vm.runInThisContext(fs.readFileSync(file, 'utf8'), { filename: file });
    }
  });
  return () => {
    for (const key of added) if (key !== 'require') delete g[key];
  };
}

/**
 * Loads LiteRT once per process and returns the module. Safe to call repeatedly and concurrently.
 * @example const { lib } = await loadLiteRtNode(); const m = await lib.loadAndCompile(bytes, {accelerator: 'wasm'})
 */
export function loadLiteRtNode(): Promise<LiteRtHandle> {
  loading ??= (async () => {
    const wasmDir = liteRtWasmDir();
    if (!fs.existsSync(wasmDir)) throw new TopiaryError(`LiteRT wasm folder not found at ${wasmDir}`);
    const removeShim = installShim(wasmDir);
    // Node has no WebGPU; LiteRT warns once while probing for it. Everything else still prints.
    const warn = console.warn;
    console.warn = (...args: unknown[]) => {
      if (typeof args[0] === 'string' && args[0].startsWith('Failed to create default WebGPU device')) return;
      warn(...args);
    };
    let lib: LiteRtModule;
    try {
      lib = (await import('@litertjs/core')) as LiteRtModule;
      await lib.loadLiteRt(wasmDir + path.sep);
    } finally {
      console.warn = warn;
      removeShim();
    }
    const version = (require('@litertjs/core/package.json') as { version: string }).version;
    return { lib, version, wasmDir };
  })().catch((err: unknown) => {
    loading = undefined;
    throw err;
  });
  return loading;
}
