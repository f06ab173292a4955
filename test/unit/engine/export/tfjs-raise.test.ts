/**
 * Calibrated uint8 tfjs exports: kernels are raised to uint16 by measured output sensitivity until
 * the export matches the float model on the calibration inputs; exports that already match are
 * left exactly as the uncalibrated export.
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../../../src-main/engine/data';
import { exportTfjs, tfjsMemoryHandler } from '../../../../src-main/engine/export/tfjs';
import { chooseUint16Raises, type RaiseMeasure } from '../../../../src-main/engine/export/tfjs-raise';

const IN = 32;

/** Dense(IN -> 8, 'wide') -> Dense(8 -> 3, 'head'). */
function twoDense(): { m: tf.LayersModel; wide: tf.layers.Layer } {
  const inp = tf.input({ shape: [IN] });
  // Seeded like the head: with random weights, the first test's model only usually matches in uint8.
  const wide = tf.layers.dense({ units: 8, activation: 'relu', name: 'wide', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) });
  const head = tf.layers.dense({ units: 3, name: 'head', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) });
  const m = tf.model({ inputs: inp, outputs: head.apply(wide.apply(inp)) as tf.SymbolicTensor });
  return { m, wide };
}

/** Inputs whose feature 0 is always 0 (so weights from it never reach the output). */
function calibration(n: number, seed = 3): Float32Array {
  const rand = seededRandom(seed);
  const x = Float32Array.from({ length: n * IN }, () => 2 * rand() - 1);
  for (let i = 0; i < n; i++) x[i * IN] = 0;
  return x;
}

async function maxDiff(m: tf.LayersModel, out: Parameters<typeof tfjsMemoryHandler>[0], x: Float32Array): Promise<number> {
  const back = await tf.loadLayersModel(tfjsMemoryHandler(out));
  const d = tf.tidy(() => {
    const t = tf.tensor(x, [x.length / IN, IN]);
    return (m.predict(t) as tf.Tensor).sub(back.predict(t) as tf.Tensor).abs().max().dataSync()[0];
  });
  back.dispose();
  return d;
}

describe('exportTfjs uint8 with calibration', () => {
  it('leaves a model that already matches unchanged: same bytes, no raised kernels', async () => {
    const { m } = twoDense();
    const before = tf.memory().numTensors;
    const plain = await exportTfjs(m, { quant: 'uint8' });
    const calibrated = await exportTfjs(m, { quant: 'uint8', calibration: calibration(16) });
    expect(calibrated.calibrated?.raised).toEqual([]);
    expect(calibrated.calibrated?.met).toBe(true);
    expect(calibrated.calibrated?.evaluations).toBe(1);
    expect(calibrated.uint16Raised).toEqual(plain.uint16Raised);
    expect(calibrated.shards).toEqual(plain.shards);
    expect(tf.memory().numTensors).toBe(before);
    m.dispose();
  });

  it('raises the kernel whose uint8 error moves the outputs, and only that one, deterministically', async () => {
    const { m, wide } = twoDense();
    // Huge weights from the always-zero feature 0, in every output channel: the per-channel rule
    // sees wide spans everywhere and keeps uint8, but one uint8 step (~40/255) wipes out the
    // small weights that carry the signal.
    const rand = seededRandom(8);
    const k = Float32Array.from({ length: IN * 8 }, () => 0.2 * (2 * rand() - 1));
    for (let c = 0; c < 8; c++) k[c] = c % 2 ? 20 : -20;
    const set = [tf.tensor(k, [IN, 8]), tf.zeros([8])];
    wide.setWeights(set);
    tf.dispose(set);
    const x = calibration(24);
    const plain = await exportTfjs(m, { quant: 'uint8' });
    expect(plain.uint16Raised).toEqual([]);
    const plainDiff = await maxDiff(m, plain, x);
    expect(plainDiff).toBeGreaterThan(0.05);

    let calls = 0;
    const out = await exportTfjs(m, { quant: 'uint8', calibration: x, onProgress: () => calls++ });
    expect(out.calibrated?.raised.map((r) => r.name)).toEqual(['wide/kernel']);
    expect(out.uint16Raised).toEqual(['wide/kernel']);
    expect(out.calibrated?.met).toBe(true);
    expect(out.calibrated?.before.maxAbsDiff).toBeCloseTo(plainDiff, 5);
    expect(out.calibrated!.after.maxAbsDiff).toBeLessThanOrEqual(0.05);
    expect(await maxDiff(m, out, x)).toBeLessThan(plainDiff / 10);
    const entry = out.modelJson.weightsManifest[0].weights.find((w) => w.name === 'wide/kernel');
    expect(entry?.quantization?.dtype).toBe('uint16');
    expect(out.modelJson.weightsManifest[0].weights.find((w) => w.name === 'head/kernel')?.quantization?.dtype).toBe('uint8');
    expect(calls).toBeGreaterThan(0);
    const again = await exportTfjs(m, { quant: 'uint8', calibration: x });
    expect(again.shards).toEqual(out.shards);
    m.dispose();
  });

  it('refuses calibration that is not whole samples, naming the shape', async () => {
    const { m } = twoDense();
    await expect(exportTfjs(m, { quant: 'uint8', calibration: new Float32Array(IN + 1) })).rejects.toThrow(/not a whole number of samples of shape \[32\]/);
    m.dispose();
  });
});

describe('chooseUint16Raises', () => {
  // Four kernels; the export meets the target only when both 'b' and 'd' are raised.
  const alone: Record<string, number> = { a: 0.01, b: 0.3, c: 0.02, d: 0.2 };
  const measure = async (p: { uint8Alone: string } | { raised: ReadonlySet<string> }): Promise<RaiseMeasure> => {
    if ('uint8Alone' in p) return { top1Agreement: 1, maxAbsDiff: alone[p.uint8Alone] * 2, meanAbsDiff: alone[p.uint8Alone] };
    const ok = p.raised.has('b') && p.raised.has('d');
    return { top1Agreement: ok ? 1 : 0.9, maxAbsDiff: ok ? 0.01 : 0.5, meanAbsDiff: 0 };
  };

  it('raises the fewest most sensitive kernels that meet the target, within a bounded number of evaluations', async () => {
    const d = await chooseUint16Raises({ candidates: ['a', 'b', 'c', 'd'], measure });
    expect(d.raised).toEqual([{ name: 'b', sensitivity: 0.3 }, { name: 'd', sensitivity: 0.2 }]);
    expect(d.met).toBe(true);
    expect(d.evaluations).toBeLessThanOrEqual(2 + 4 + Math.ceil(Math.log2(5)) + 1);
  });

  it('relaxes the target to what raising every kernel reaches, instead of raising all for a near-tie', async () => {
    // One sample in ten flips whatever is raised; 'b' alone brings the rest within the target.
    const tie = async (p: { uint8Alone: string } | { raised: ReadonlySet<string> }): Promise<RaiseMeasure> => {
      if ('uint8Alone' in p) return { top1Agreement: 1, maxAbsDiff: 0, meanAbsDiff: alone[p.uint8Alone] };
      return p.raised.has('b') ? { top1Agreement: 0.9, maxAbsDiff: 0.01, meanAbsDiff: 0 } : { top1Agreement: 0.8, maxAbsDiff: 0.5, meanAbsDiff: 0 };
    };
    const d = await chooseUint16Raises({ candidates: ['a', 'b', 'c', 'd'], measure: tie });
    expect(d.raised.map((r) => r.name)).toEqual(['b']);
    expect(d.met).toBe(true);
    expect(d.reached.top1Agreement).toBe(0.9);
  });

  it('stops at the size cap and says the target was not met', async () => {
    const d = await chooseUint16Raises({ candidates: ['a', 'b', 'c', 'd'], measure, maxRaised: 1 });
    expect(d.raised.map((r) => r.name)).toEqual(['b']);
    expect(d.met).toBe(false);
  });
});
