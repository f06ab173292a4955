import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { builtinProfile, parseProfile } from '../../../../src-main/common/profiles';
import { readTflite } from '../../../../src-main/engine/export/tflite';
import { checkFit, checkTfliteFile, numericTypesFor } from '../../../../src-main/engine/fit';
import { lenet5 } from '../../../../src-main/engine/models';

const mcu = builtinProfile('mcu-cortex-m4')!;

describe('checkFit', () => {
  it('storage is the byte length of the real export and ram the arena of its op graph', async () => {
    const model = lenet5({ seed: 1 });
    const start = tf.memory().numTensors;
    const { report, tflite } = await checkFit(model, mcu);
    expect(tf.memory().numTensors).toBe(start);
    expect(tflite).toBeInstanceOf(Uint8Array);
    const storage = report.constraints.find((c) => c.constraint === 'storage')!;
    expect(storage.value).toBe(tflite!.byteLength);
    expect(storage.margin).toBe(mcu.storageBytes - tflite!.byteLength);
    expect(report.numericType).toBe('int8');
    // int8 weights: the file is about a quarter of the float32 weights (61,706 params).
    expect(tflite!.byteLength).toBeLessThan(61_706 * 1.5);
    expect(report.arena!.activationBytes).toBeGreaterThan(28 * 28 * 6); // conv1's int8 output alone
    expect(report.constraints.find((c) => c.constraint === 'latency')!.estimate).toBe(true);
    expect(report.latency.estimateMs).toBeCloseTo((1000 * report.macs) / mcu.referenceMacsPerSecond, 6);
    expect(report.fits).toBe(true);
    model.dispose();
  });

  it('checkTfliteFile on the same bytes agrees with checkFit', async () => {
    const model = lenet5({ seed: 2 });
    const { report, tflite } = await checkFit(model, mcu);
    const again = checkTfliteFile(tflite!, mcu, { numericType: 'int8', macs: report.macs, params: report.params });
    expect(again.sizeBytes).toBe(report.sizeBytes);
    expect(again.arena!.totalBytes).toBe(report.arena!.totalBytes);
    expect(readTflite(tflite!).operators.some((o) => o.op === 'QUANTIZE')).toBe(true);
    model.dispose();
  });

  it('an op missing from the runtime is reported with its layer name', async () => {
    const noSoftmax = parseProfile({ ...mcu, id: 'no-softmax', builtin: undefined, supportedOps: mcu.supportedOps.filter((o) => o !== 'SOFTMAX') });
    const model = lenet5({ seed: 3 });
    const { report } = await checkFit(model, noSoftmax);
    expect(report.fits).toBe(false);
    expect(report.unsupportedOps).toEqual([expect.objectContaining({ layer: 'fc3', className: 'Dense', ops: ['SOFTMAX'] })]);
    const ops = report.constraints.find((c) => c.constraint === 'ops')!;
    expect(ops.passed).toBe(false);
    expect(ops.detail).toContain('fc3: SOFTMAX');
    model.dispose();
  });

  it('a layer the exporter cannot lower is reported by name and the size is unknown', async () => {
    const model = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [8, 8, 1], filters: 2, kernelSize: 3, name: 'c1' }),
        tf.layers.flatten({ name: 'flat' }),
        // LayerNormalization has no TF Lite lowering (GlobalMaxPooling2D, used here before, now has one).
        tf.layers.layerNormalization({ name: 'ln' }),
        tf.layers.dense({ units: 2, activation: 'softmax', name: 'out' }),
      ],
    });
    const { report, tflite } = await checkFit(model, mcu);
    expect(tflite).toBeUndefined();
    expect(report.unsupportedOps.map((u) => u.layer)).toEqual(['ln']);
    expect(report.unsupportedOps[0].className).toBe('LayerNormalization');
    expect(report.constraints.find((c) => c.constraint === 'storage')!.value).toBeNull();
    expect(report.fits).toBe(false);
    model.dispose();
  });

  it('a numeric type the profile does not allow fails the numeric constraint', async () => {
    const model = lenet5({ seed: 4 });
    const { report } = await checkFit(model, mcu, { numericType: 'float32' });
    const numeric = report.constraints.find((c) => c.constraint === 'numeric')!;
    expect(numeric.passed).toBe(false);
    expect(numeric.detail).toContain('float32 is not allowed');
    model.dispose();
  });

  it('the web profile measures the tfjs export gzipped and counts weights in RAM', async () => {
    const web = builtinProfile('web-browser')!;
    const model = lenet5({ seed: 5 });
    const { report, tfjsFiles } = await checkFit(model, web);
    expect(report.format).toBe('tfjs');
    expect(report.numericType).toBe('float16');
    expect(tfjsFiles!.map((f) => f.name)).toContain('model.json');
    expect(report.constraints.find((c) => c.constraint === 'storage')!.value).toBe(report.gzipBytes);
    expect(report.arena!.weightBytes).toBe(4 * 61_706);
    model.dispose();
  });

  it('numeric types: preferred first, then the rest smallest first; tfjs never int8', () => {
    expect(numericTypesFor(builtinProfile('mobile-midrange')!)).toEqual(['float16', 'int8', 'dynamic-int8', 'float32']);
    expect(numericTypesFor(builtinProfile('web-browser')!)).not.toContain('int8');
  });
});

describe('checkTfliteFile', () => {
  it('names layers from the file alone when judging a file on disk', async () => {
    const noSoftmax = parseProfile({ ...mcu, id: 'no-softmax-2', builtin: undefined, supportedOps: mcu.supportedOps.filter((o) => o !== 'SOFTMAX') });
    const model = lenet5({ seed: 6 });
    const { tflite } = await checkFit(model, mcu);
    const r = checkTfliteFile(tflite!, noSoftmax, { numericType: 'int8', macs: 1, params: 1 });
    expect(r.unsupportedOps.map((u) => [u.layer, u.ops])).toEqual([['fc3', ['SOFTMAX']]]);
    expect(r.arena!.peakAt!.layer).toBe('pool1');
    model.dispose();
  });
});
