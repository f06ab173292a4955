import { afterEach, describe, expect, it } from 'vitest';
import { gpuStatus } from '../../../src-main/app/info-service';
import { initBackend, requestedWindowBackend, type BackendInfo } from '../../../src-main/node/backend';

const savedEnv = process.env.TOPIARY_BACKEND;
afterEach(() => {
  if (savedEnv === undefined) delete process.env.TOPIARY_BACKEND;
  else process.env.TOPIARY_BACKEND = savedEnv;
});

const backend = (over: Partial<BackendInfo>): BackendInfo => ({ name: 'wasm', tfjsName: 'wasm', package: '@tensorflow/tfjs-backend-wasm', version: '4.22.0', tfjsVersion: '4.22.0', skipped: [], ...over });

describe('the GPU line of topiary info', () => {
  it('without a GPU it says none is used, that the CLI trains on the CPU, and where WebGPU/WebGL run', () => {
    delete process.env.TOPIARY_BACKEND;
    const s = gpuStatus(backend({ skipped: [{ name: 'tensorflow-gpu', reason: 'Cannot find module' }] }));
    expect(s.used).toBe(false);
    expect(s.detail).toBe('none used (the CLI trains on the CPU; tfjs-node-gpu not loaded; WebGPU/WebGL run in a browser window: `topiary web`, then open /gpu.html)');
  });

  it('tfjs-node-gpu in use is the GPU', () => {
    const s = gpuStatus(backend({ name: 'tensorflow-gpu', tfjsName: 'tensorflow', package: '@tensorflow/tfjs-node-gpu' }));
    expect(s).toEqual({ used: true, detail: 'CUDA through @tensorflow/tfjs-node-gpu@4.22.0' });
  });

  it('TOPIARY_BACKEND=webgl is for the window: Node takes the first backend that loads and says so', async () => {
    process.env.TOPIARY_BACKEND = 'WebGL';
    expect(requestedWindowBackend()).toBe('webgl');
    const info = await initBackend();
    expect(['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu']).toContain(info.name);
    const s = gpuStatus(info);
    expect(s.requested).toBe('webgl');
    expect(s.detail).toContain(`TOPIARY_BACKEND=webgl applies to the GPU window, the CLI trains on ${info.name}`);
  });

  it('a GPU chosen in the settings is for the window too, and the line says the settings chose it', () => {
    delete process.env.TOPIARY_BACKEND;
    const s = gpuStatus(backend({}), { choice: 'webgpu', source: 'settings' });
    expect(s).toEqual({ used: false, requested: 'webgpu', detail: 'none used here: the settings choose webgpu for the GPU window, the CLI trains on wasm (WebGPU/WebGL run in a browser window: `topiary web`, then open /gpu.html)' });
    // A cpu or auto setting changes nothing in the line.
    expect(gpuStatus(backend({}), { choice: 'cpu', source: 'settings' }).requested).toBeUndefined();
  });

  it('a backend name that is neither is still a ConfigError listing both kinds', async () => {
    process.env.TOPIARY_BACKEND = 'metal';
    expect(requestedWindowBackend()).toBeUndefined();
    await expect(initBackend()).rejects.toThrow(/^TOPIARY_BACKEND must be one of auto, tensorflow-gpu, tensorflow, wasm, cpu, webgl, webgpu; got "metal"/);
  });
});
