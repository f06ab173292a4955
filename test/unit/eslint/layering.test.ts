import fs from 'node:fs';
import path from 'node:path';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';
// @ts-expect-error the rule is plain JavaScript, loaded by eslint.config.js
import { LAYERS, layerOf } from '../../../eslint/layering.js';

const root = path.resolve(__dirname, '../../..');
const eslint = new ESLint({ cwd: root });

/** The rule ids and messages ESLint reports for `code` placed at `file` (relative to the root). */
async function lint(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: path.join(root, file) });
  return result.messages.map((m) => `${m.ruleId}: ${m.message}`);
}

describe('folder layering (eslint/layering.js)', () => {
  it('keeps the renderer on common/ only', async () => {
    expect(await lint('src-renderer/x.ts', "import type { Api } from '../src-main/app/api';\nexport type A = Api;\n")).toEqual([
      expect.stringMatching(/^topiary\/layering: renderer\/ may not import app\//),
    ]);
    expect(await lint('src-renderer/x.ts', "import type { RunHead } from '../src-main/common/contract';\nexport type A = RunHead;\n")).toEqual([]);
  });

  it('lets only electron/ import electron, and only store/ import better-sqlite3', async () => {
    expect(await lint('src-main/app/x.ts', "import { app } from 'electron';\nexport const a = app;\n")).toEqual(['topiary/layering: electron may only be imported in src-main/electron/.']);
    expect(await lint('src-main/electron/x.ts', "import { app } from 'electron';\nexport const a = app;\n")).toEqual([]);
    expect(await lint('src-main/app/x.ts', "import Database from 'better-sqlite3';\nexport const d = Database;\n")).toEqual(['topiary/layering: better-sqlite3 may only be imported in src-main/store/.']);
  });

  it('makes the CLI and web reach engine/ and store/ through app/, dynamic imports and import types included', async () => {
    expect(await lint('src-main/cli/commands/x.ts', "export const f = () => import('../../engine/analyze');\n")).toEqual([
      expect.stringMatching(/^topiary\/layering: cli\/ may not import engine\//),
    ]);
    expect(await lint('src-main/cli/x.ts', "export type S = import('../store/db').Store;\n")).toEqual([expect.stringMatching(/cli\/ may not import store\//)]);
    expect(await lint('src-main/web/x.ts', "export { openStore } from '../store/db';\n")).toEqual([expect.stringMatching(/web\/ may not import store\//)]);
    expect(await lint('src-main/cli/x.ts', "export const f = () => import('../app/api');\n")).toEqual([]);
  });

  it('forbids the upward imports that made folder cycles (jobs/ -> app/)', async () => {
    expect(await lint('src-main/jobs/x.ts', "import { executeRun } from '../app/run-pipeline';\nexport const e = executeRun;\n")).toEqual([
      expect.stringMatching(/jobs\/ may not import app\//),
    ]);
    expect(await lint('src-main/engine/x.ts', "import { loadModel } from '../node/models';\nexport const l = loadModel;\n")).toContainEqual(expect.stringMatching(/topiary\/layering: engine\/ may not import node\//));
  });

  it('gpu/ (the browser GPU page) may use the engine, not node/ or Node itself', async () => {
    expect(await lint('src-main/gpu/x.ts', "import { finetuneMasked } from '../engine/finetune/trainer';\nexport const f = finetuneMasked;\n")).toEqual([]);
    expect(await lint('src-main/gpu/x.ts', "import { initBackend } from '../node/backend';\nexport const i = initBackend;\n")).toContainEqual(expect.stringMatching(/gpu\/ may not import node\//));
    expect(await lint('src-main/gpu/x.ts', "import fs from 'node:fs';\nexport const r = fs.readFileSync;\n")).toContainEqual(expect.stringMatching(/no node:\* modules/));
  });

  it('allows no cycle between folders: the table is a partial order', () => {
    const reaches = (from: string, to: string, seen = new Set<string>()): boolean =>
      (LAYERS as Record<string, string[]>)[from].some((n) => n !== from && (n === to || (!seen.has(n) && (seen.add(n), reaches(n, to, seen)))));
    for (const a of Object.keys(LAYERS)) expect(reaches(a, a), `${a} reaches itself`).toBe(false);
  });

  it('holds for the Svelte components too (ESLint does not parse .svelte here)', () => {
    const bad: string[] = [];
    const walk = (dir: string) => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.name.endsWith('.svelte')) {
          for (const m of fs.readFileSync(p, 'utf8').matchAll(/from\s+'(\.[^']+)'/g)) {
            const to = layerOf(path.relative(root, path.resolve(path.dirname(p), m[1])));
            if (to && !LAYERS.renderer.includes(to)) bad.push(`${path.relative(root, p)} imports ${m[1]}`);
          }
        }
      }
    };
    walk(path.join(root, 'src-renderer'));
    expect(bad).toEqual([]);
  });
});
