/**
 * What the built Electron main process may load. The main bundle is built with the options
 * scripts/build.mjs uses (scripts/bundles.mjs), in memory, and its esbuild metafile lists every
 * module it bundles and every package it leaves to require(): none may be tfjs, LiteRT or
 * Topiary's native addon, which run only in the workers.
 */
import path from 'node:path';
import { build, type Metafile } from 'esbuild';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs build script, no type declarations
import { electronBundles } from '../../../scripts/bundles.mjs';

const root = path.resolve(__dirname, '../../..');
const ENGINE_ONLY = /^@tensorflow\/|^@litertjs\/|topiary_native/;

async function bundle(name: string): Promise<{ metafile: Metafile; text: string }> {
  const options = (electronBundles(root) as Record<string, object>)[name];
  const r = await build({ ...options, write: false, metafile: true, sourcemap: false, logLevel: 'silent' });
  return { metafile: r.metafile, text: r.outputFiles.map((f) => f.text).join('\n') };
}

/** Packages and files the bundle loads at run time (require / import left external). */
function externals(metafile: Metafile): string[] {
  return [...new Set(Object.values(metafile.inputs).flatMap((i) => i.imports.filter((imp) => imp.external).map((imp) => imp.path)))].sort();
}

describe('the Electron main bundle', () => {
  it('loads no tfjs, no LiteRT and no native addon', async () => {
    const { metafile, text } = await bundle('main');
    expect(externals(metafile).filter((p) => ENGINE_ONLY.test(p))).toEqual([]);
    expect(Object.keys(metafile.inputs).filter((p) => ENGINE_ONLY.test(p) || p.includes('node_modules/@tensorflow'))).toEqual([]);
    expect(text).not.toMatch(/topiary_native|@tensorflow\/tfjs/);
    // It still holds the store and the worker plumbing (the check looks at a real bundle).
    expect(externals(metafile)).toContain('better-sqlite3');
    expect(Object.keys(metafile.inputs)).toContain('src-main/jobs/engine-host.ts');
  });

  it('the engine worker bundle is where tfjs and the native addon load', async () => {
    const { metafile, text } = await bundle('engine-job');
    expect(externals(metafile)).toContain('@tensorflow/tfjs');
    expect(text).toMatch(/topiary_native/);
  });
});
