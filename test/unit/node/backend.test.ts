import * as tf from '@tensorflow/tfjs';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, TopiaryError } from '../../../src-main/common/errors';
import { initBackend } from '../../../src-main/node/backend';

const require = createRequire(import.meta.url);
function installed(pkg: string): boolean {
  try {
    require.resolve(pkg);
    return true;
  } catch {
    return false;
  }
}
const hasTfjsNode = installed('@tensorflow/tfjs-node');

const savedEnv = process.env.TOPIARY_BACKEND;
afterEach(() => {
  if (savedEnv === undefined) delete process.env.TOPIARY_BACKEND;
  else process.env.TOPIARY_BACKEND = savedEnv;
});

describe('initBackend', () => {
  it('forcing cpu selects the cpu backend and reports its package and version', async () => {
    const info = await initBackend({ force: 'cpu' });
    expect(info.name).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    expect(info.package).toBe('@tensorflow/tfjs-backend-cpu');
    expect(info.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(info.tfjsVersion).toBe(tf.version.tfjs);
  });

  it('forcing wasm selects wasm with SIMD and the training kernels registered', async () => {
    const info = await initBackend({ force: 'wasm' });
    expect(info.name).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(info.package).toBe('@tensorflow/tfjs-backend-wasm');
    expect(info.version).toBe('4.22.0');
    expect(info.simd).toBe(true);
    expect(info.threads).toBeGreaterThanOrEqual(1);
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeDefined();
  });

  it('TOPIARY_BACKEND forces a backend, case-insensitively', async () => {
    process.env.TOPIARY_BACKEND = 'CPU';
    expect((await initBackend()).name).toBe('cpu');
    process.env.TOPIARY_BACKEND = 'wasm';
    expect((await initBackend()).name).toBe('wasm');
  });

  it('calling again re-activates the chosen backend after tf.setBackend moved away', async () => {
    await initBackend({ force: 'wasm' });
    await tf.setBackend('cpu');
    const info = await initBackend({ force: 'wasm' });
    expect(info.name).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
  });

  it('a bad name is a ConfigError naming the choices', async () => {
    await expect(initBackend({ force: 'webgpu' })).rejects.toBeInstanceOf(ConfigError);
    await expect(initBackend({ force: 'webgpu' })).rejects.toThrow(/tensorflow-gpu, tensorflow, wasm, cpu; got "webgpu"/);
    process.env.TOPIARY_BACKEND = 'cuda';
    await expect(initBackend()).rejects.toThrow(/^TOPIARY_BACKEND must be one of/);
  });

  it.runIf(!hasTfjsNode)('with nothing forced, the first backend that loads wins and the rest say why they were skipped', () => {
    // A fresh process: this one has already chosen a backend.
    const backendTs = path.resolve(__dirname, '../../../src-main/node/backend.ts');
    const script = `import { initBackend } from ${JSON.stringify(backendTs)}; console.log(JSON.stringify(await initBackend()));`;
    const env = { ...process.env };
    delete env.TOPIARY_BACKEND;
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const info = JSON.parse(out.trim().split('\n').pop() as string);
    expect(info.name).toBe('wasm');
    expect(info.skipped.map((s: { name: string }) => s.name)).toEqual(['tensorflow-gpu', 'tensorflow']);
    expect(info.skipped[1].reason).toMatch(/tfjs-node/);
  });

  it('TOPIARY_WASM_THREADS=2 starts the threaded wasm build in Node, computes correctly and lets the process exit', () => {
    const backendTs = path.resolve(__dirname, '../../../src-main/node/backend.ts');
    const script = [
      `import * as tf from '@tensorflow/tfjs';`,
      `import { initBackend } from ${JSON.stringify(backendTs)};`,
      `const info = await initBackend({ force: 'wasm' });`,
      `const a = tf.linspace(-1, 1, 64 * 40).reshape([64, 40]);`,
      `const got = await tf.matMul(a, a, true, false).data();`,
      `await tf.setBackend('cpu');`,
      `const want = await tf.matMul(a, a, true, false).data();`,
      `let d = 0; for (let i = 0; i < want.length; i++) d = Math.max(d, Math.abs(want[i] - got[i]));`,
      `console.log(JSON.stringify({ threads: info.threads, notes: info.notes ?? [], maxDiff: d }));`,
    ].join('\n');
    const env = { ...process.env, TOPIARY_WASM_THREADS: '2' };
    // execFileSync returning at all proves the idle pthread workers do not hold the process open.
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 60_000 });
    const result = JSON.parse(out.trim().split('\n').pop() as string);
    expect(result.notes).toEqual([]);
    expect(result.threads).toBe(2);
    expect(result.maxDiff).toBeLessThan(1e-4);
  });

  it('a bad TOPIARY_WASM_THREADS is a ConfigError', async () => {
    process.env.TOPIARY_WASM_THREADS = '0';
    try {
      await expect(initBackend({ force: 'wasm' })).rejects.toThrow(/TOPIARY_WASM_THREADS must be an integer from 1 to 8, got "0"/);
    } finally {
      delete process.env.TOPIARY_WASM_THREADS;
    }
  });

  it('a bad TOPIARY_NATIVE_THREADS is a ConfigError, not a silent fall-back to another backend', async () => {
    process.env.TOPIARY_NATIVE_THREADS = 'abc';
    try {
      await expect(initBackend()).rejects.toThrow(/TOPIARY_NATIVE_THREADS must be an integer from 1 to 256, got "abc"/);
    } finally {
      delete process.env.TOPIARY_NATIVE_THREADS;
    }
  });

  it.runIf(!hasTfjsNode)('forcing tensorflow where tfjs-node is absent fails and says why', async () => {
    const err = await initBackend({ force: 'tensorflow' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TopiaryError);
    expect(err).not.toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(/backend "tensorflow" could not be loaded: tensorflow \(.*tfjs-node/);
  });

  // The native path can only run where @tensorflow/tfjs-node installed its binary.
  it.runIf(hasTfjsNode)('forcing tensorflow uses tfjs-node where it is installed', async () => {
    const info = await initBackend({ force: 'tensorflow' });
    expect(info.tfjsName).toBe('tensorflow');
    expect(info.package).toBe('@tensorflow/tfjs-node');
  });
});
