import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { liteRtWasmDir, loadLiteRtNode } from '../../../../src-main/node/verify/litert';

const require = createRequire(import.meta.url);

describe('loadLiteRtNode', () => {
  it('loads once, reports the package version and leaves no worker-detection globals behind', async () => {
    const [a, b] = await Promise.all([loadLiteRtNode(), loadLiteRtNode()]);
    expect(a).toBe(b);
    expect(a.version).toBe((require('@litertjs/core/package.json') as { version: string }).version);
    expect(a.wasmDir).toBe(liteRtWasmDir());
    // Other Emscripten modules (tfjs-backend-wasm) treat a global importScripts as "in a worker".
    const g = globalThis as Record<string, unknown>;
    expect(typeof g.importScripts).toBe('undefined');
    expect(typeof g.self).toBe('undefined');
    await expect(a.lib.loadAndCompile(new Uint8Array(32), { accelerator: 'wasm' })).rejects.toThrow(/Failed to load model/);
  });
});
