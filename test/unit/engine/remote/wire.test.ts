/** The GPU wire format: a JSON header and raw byte parts, round-tripped and refused when malformed. */
import { describe, expect, it } from 'vitest';
import { decodeRequest, decodeResponse, encodeRequest, encodeResponse, GpuWireError, packParts, unpackParts, type GpuPruningRequest, type GpuPruningResponse } from '../../../../src-main/engine/remote/wire';

describe('GPU wire format', () => {
  it('parts come back byte for byte, each aligned for a typed view, the header as it was', () => {
    const odd = new Uint8Array([1, 2, 3]);
    const floats = new Float32Array([1.5, -2, Number.NaN]);
    const { meta, blobs } = unpackParts(packParts({ jobId: 'j', nested: { a: [1, 2] } }, { odd, floats }));
    expect(meta).toEqual({ jobId: 'j', nested: { a: [1, 2] } });
    expect(Array.from(blobs.odd)).toEqual([1, 2, 3]);
    const back = new Float32Array(blobs.floats.buffer, blobs.floats.byteOffset, 3);
    expect(Array.from(back)).toEqual([1.5, -2, Number.NaN]);
  });

  it('a truncated body, a header past the end, or bytes after the last part are refused by name', () => {
    const good = packParts({}, { w: new Uint8Array(8) });
    expect(() => unpackParts(good.subarray(0, 2))).toThrow(GpuWireError);
    expect(() => unpackParts(good.subarray(0, good.byteLength - 1))).toThrow(/part "w" \(8 bytes\) runs past the body's end/);
    const longer = new Uint8Array(good.byteLength + 2);
    longer.set(good);
    expect(() => unpackParts(longer)).toThrow(/2 bytes after the last part/);
    const lying = good.slice();
    new DataView(lying.buffer).setUint32(0, 1 << 30, true);
    expect(() => unpackParts(lying)).toThrow(/runs past the body/);
  });

  it('a request keeps its typed arrays\' kinds (labels int32, regression targets float32) and its config', () => {
    const base = { model: { topology: { class_name: 'Sequential' }, weightSpecs: [{ name: 'd/kernel', shape: [2, 1], dtype: 'float32' as const }], weights: new Uint8Array(new Float32Array([0.5, -0.25]).buffer) }, config: { sparsity: 0.5, method: 'magnitude' } } as unknown as GpuPruningRequest;
    const labels = { x: new Float32Array([1, 2, 3, 4]), y: new Int32Array([0, 1]), yPer: 1, sampleShape: [2], name: 'n', source: 's', classNames: ['a', 'b'] };
    const back = decodeRequest(encodeRequest('job-1', { ...base, train: labels }));
    expect(back.jobId).toBe('job-1');
    expect(back.request.train.y).toBeInstanceOf(Int32Array);
    expect(back.request.train).toEqual(labels);
    expect(back.request.config).toEqual(base.config);
    expect(Array.from(new Float32Array(back.request.model.weights.buffer))).toEqual([0.5, -0.25]);
    const targets = { ...labels, y: new Float32Array([0.5, 1.5, 2.5, 3.5]), yPer: 2, classNames: [], targetNames: ['u', 'v'] };
    const reg = decodeRequest(encodeRequest('job-2', { ...base, train: targets })).request.train;
    expect(reg.y).toBeInstanceOf(Float32Array);
    expect(reg).toEqual(targets);
  });

  it('a response round-trips with its device and records', () => {
    const res = { model: { topology: { a: 1 }, weightSpecs: [], weights: new Uint8Array([9, 8, 7, 6]) }, plan: { targetSparsity: 0.5 }, history: [{ epoch: 0, loss: 1 }], stoppedEarly: false, training: [{ path: 'tfjs', shards: 1, microBatch: 32 }], device: { backend: 'webgl', adapter: 'ANGLE (SwiftShader)', software: true } } as unknown as GpuPruningResponse;
    expect(decodeResponse(encodeResponse(res))).toEqual(res);
  });
});
