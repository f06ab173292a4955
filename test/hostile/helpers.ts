/**
 * Shared pieces of the hostile-input suite: a CLI runner against a private TOPIARY_HOME, and
 * sentinels (a folder with a file, outside every data folder) whose survival each test asserts.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';

export const root = path.resolve(__dirname, '..', '..');

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Runs `bin/topiary.mjs` with `home` as TOPIARY_HOME on the wasm backend. */
export function topiary(home: string, args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [path.join(root, 'bin', 'topiary.mjs'), ...args], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, TOPIARY_HOME: home, TOPIARY_BACKEND: 'wasm', CI: '1', ...env },
    timeout: 180_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

export interface Sentinel {
  dir: string;
  file: string;
  /** Fails the test unless the folder and its file are still there, byte for byte. */
  assertIntact(): void;
}

/** A user's folder with one file in it, outside the data folder. */
export function sentinel(parent: string, name = 'precious'): Sentinel {
  const dir = path.join(parent, name);
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'thesis.txt');
  const text = `do not delete ${name}\n`;
  fs.writeFileSync(file, text);
  return {
    dir,
    file,
    assertIntact() {
      expect(fs.existsSync(dir), `${dir} must survive`).toBe(true);
      expect(fs.readFileSync(file, 'utf8')).toBe(text);
    },
  };
}
