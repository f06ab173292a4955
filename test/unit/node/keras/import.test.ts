import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ModelFormatError } from '../../../../src-main/common/errors';
import { buildDependencyGraph } from '../../../../src-main/engine/graph/depgraph';
import { loadKerasModel } from '../../../../src-main/node/keras/import';
import { functionalConfig, kerasLayerConfig, layerWeights, sequentialConfig, writeKeras2H5, writeKeras3, type FunctionalSpec, type LayerSpec } from './fixtures';

const SEQ: LayerSpec[] = [
  { cls: 'Conv2D', name: 'conv2d', filters: 4, kernel: 3, activation: 'relu' },
  { cls: 'BatchNormalization', name: 'batch_normalization' },
  { cls: 'MaxPooling2D', name: 'max_pooling2d', pool: 2 },
  { cls: 'Flatten', name: 'flatten' },
  { cls: 'Dense', name: 'dense', units: 5, activation: 'softmax' },
];

const FUNC: FunctionalSpec = {
  inputShape: [6],
  layers: [
    { spec: { cls: 'Dense', name: 'dense_a', units: 4, activation: 'relu' }, inputs: ['input'] },
    { spec: { cls: 'Dense', name: 'dense_b', units: 4, activation: 'tanh' }, inputs: ['input'] },
    { spec: { cls: 'Add', name: 'add' }, inputs: ['dense_a', 'dense_b'] },
    { spec: { cls: 'Concatenate', name: 'concatenate' }, inputs: ['add', 'input'] },
    { spec: { cls: 'Dense', name: 'dense_out', units: 3, activation: 'linear' }, inputs: ['concatenate'] },
  ],
  output: 'dense_out',
};

/** The tfjs twin of SEQ with random (non-trivial) weights. */
function seqReference(): tf.LayersModel {
  const m = tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [8, 8, 1], filters: 4, kernelSize: 3, activation: 'relu', name: 'conv2d' }),
      tf.layers.batchNormalization({ name: 'batch_normalization' }),
      tf.layers.maxPooling2d({ poolSize: 2, name: 'max_pooling2d' }),
      tf.layers.flatten({ name: 'flatten' }),
      tf.layers.dense({ units: 5, activation: 'softmax', name: 'dense' }),
    ],
  });
  randomize(m);
  return m;
}

function funcReference(): tf.LayersModel {
  const input = tf.input({ shape: [6], name: 'input_1' });
  const a = tf.layers.dense({ units: 4, activation: 'relu', name: 'dense_a' }).apply(input) as tf.SymbolicTensor;
  const b = tf.layers.dense({ units: 4, activation: 'tanh', name: 'dense_b' }).apply(input) as tf.SymbolicTensor;
  const s = tf.layers.add({ name: 'add' }).apply([a, b]) as tf.SymbolicTensor;
  const c = tf.layers.concatenate({ name: 'concatenate' }).apply([s, input]) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 3, name: 'dense_out' }).apply(c) as tf.SymbolicTensor;
  const m = tf.model({ inputs: input, outputs: out });
  randomize(m);
  return m;
}

function randomize(m: tf.LayersModel): void {
  tf.tidy(() => {
    m.setWeights(
      m.weights.map((w, i) => {
        const r = tf.randomUniform(w.shape as number[], -1, 1, 'float32', 100 + i);
        return w.originalName.endsWith('moving_variance') ? r.abs().add(0.5) : r;
      }),
    );
  });
}

function maxAbsDiff(a: tf.LayersModel, b: tf.LayersModel, x: tf.Tensor): number {
  return tf.tidy(() => (a.predict(x) as tf.Tensor).sub(b.predict(x) as tf.Tensor).abs().max().dataSync()[0]);
}

let dir: string;
let seqRef: tf.LayersModel;
let funcRef: tf.LayersModel;
let xSeq: tf.Tensor;
let xFunc: tf.Tensor;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'topiary-keras-test-'));
  seqRef = seqReference();
  funcRef = funcReference();
  xSeq = tf.randomUniform([4, 8, 8, 1], 0, 1, 'float32', 1);
  xFunc = tf.randomUniform([4, 6], -1, 1, 'float32', 2);
});

afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('loadKerasModel: Keras 2 .h5', () => {
  for (const shape of ['k2-dict', 'k2-list', 'k3'] as const) {
    it(`imports a Sequential Conv2D/BN/pool/Dense model (${shape} config) with identical predictions`, async () => {
      const file = path.join(dir, `seq-${shape}.h5`);
      await writeKeras2H5(file, sequentialConfig([8, 8, 1], SEQ, shape), layerWeights(seqRef), { fixedConfig: shape === 'k2-list' });
      const start = tf.memory().numTensors;
      const model = await loadKerasModel(file);
      expect(model.layers.map((l) => l.getClassName())).toEqual(expect.arrayContaining(['Conv2D', 'BatchNormalization', 'MaxPooling2D', 'Flatten', 'Dense']));
      expect(model.inputs[0].shape).toEqual([null, 8, 8, 1]);
      expect(maxAbsDiff(model, seqRef, xSeq)).toBeLessThan(1e-6);
      model.dispose();
      expect(tf.memory().numTensors).toBe(start);
    });
  }

  it('reads weight_names split into weight_names0, weight_names1 (long-list layout)', async () => {
    const file = path.join(dir, 'seq-chunked.h5');
    await writeKeras2H5(file, sequentialConfig([8, 8, 1], SEQ, 'k2-dict'), layerWeights(seqRef), { chunkNames: true });
    const model = await loadKerasModel(file);
    expect(maxAbsDiff(model, seqRef, xSeq)).toBeLessThan(1e-6);
    model.dispose();
  });

  it('imports a functional model with Add and Concatenate', async () => {
    const file = path.join(dir, 'func.h5');
    await writeKeras2H5(file, functionalConfig(FUNC, 'k2'), layerWeights(funcRef));
    const model = await loadKerasModel(file);
    expect(maxAbsDiff(model, funcRef, xFunc)).toBeLessThan(1e-6);
    model.dispose();
  });
});

describe('loadKerasModel: what Keras and tfjs serialize differently', () => {
  it('data-augmentation layers (identity at inference) are dropped from a Sequential, predictions unchanged', async () => {
    const file = path.join(dir, 'seq-augment.keras');
    const layers: LayerSpec[] = [{ cls: 'RandomFlip', name: 'random_flip' }, { cls: 'RandomRotation', name: 'random_rotation' }, ...SEQ];
    await writeKeras3(file, sequentialConfig([8, 8, 1], layers, 'k3'), layerWeights(seqRef), dir);
    const model = await loadKerasModel(file);
    expect(model.layers.map((l) => l.getClassName())).not.toContain('RandomFlip');
    expect(model.inputs[0].shape).toEqual([null, 8, 8, 1]);
    expect(maxAbsDiff(model, seqRef, xSeq)).toBeLessThan(1e-6);
    model.dispose();
  });

  it('a functional graph is rewired around a dropped augmentation layer', async () => {
    const file = path.join(dir, 'func-augment.keras');
    const spec: FunctionalSpec = {
      ...FUNC,
      layers: [{ spec: { cls: 'RandomZoom', name: 'random_zoom' }, inputs: ['input'] }, ...FUNC.layers.map((l) => (l.spec.name === 'dense_a' ? { ...l, inputs: ['random_zoom'] } : l))],
    };
    const byName = layerWeights(funcRef);
    const weights = new Map([['dense', byName.get('dense_a')!], ['dense_1', byName.get('dense_b')!], ['dense_2', byName.get('dense_out')!]]);
    await writeKeras3(file, functionalConfig(spec, 'k3'), weights, dir);
    const model = await loadKerasModel(file);
    expect(model.layers.map((l) => l.name)).not.toContain('random_zoom');
    expect(maxAbsDiff(model, funcRef, xFunc)).toBeLessThan(1e-6);
    model.dispose();
  });

  it('BatchNormalization with axis [3] (tf.keras 2.x) follows its conv in the channel graph, so its channels can be pruned', async () => {
    const file = path.join(dir, 'seq-bn-axis.h5');
    await writeKeras2H5(file, sequentialConfig([8, 8, 1], SEQ, 'k2-dict'), layerWeights(seqRef));
    const model = await loadKerasModel(file);
    expect((model.getLayer('batch_normalization').getConfig() as { axis: unknown }).axis).toEqual([3]);
    const graph = buildDependencyGraph(model);
    const conv = graph.groups.find((g) => g.producers.includes('conv2d'));
    expect(conv?.refusals).toEqual([]);
    expect(conv?.followers).toContain('batch_normalization');
    model.dispose();
  });
});

describe('loadKerasModel: Keras 3 .keras', () => {
  it('imports a Sequential model from config.json + model.weights.h5', async () => {
    const file = path.join(dir, 'seq.keras');
    await writeKeras3(file, sequentialConfig([8, 8, 1], SEQ, 'k3'), layerWeights(seqRef), dir);
    const model = await loadKerasModel(file);
    expect(model.inputs[0].shape).toEqual([null, 8, 8, 1]);
    expect(maxAbsDiff(model, seqRef, xSeq)).toBeLessThan(1e-6);
    model.dispose();
  });

  it('imports a functional model (Keras 3 inbound_nodes and flat input_layers)', async () => {
    const file = path.join(dir, 'func.keras');
    const byName = layerWeights(funcRef);
    // Keras 3 stores weights by class and position, not by layer name: dense_a, dense_b, dense_out
    // live in layers/dense, layers/dense_1, layers/dense_2.
    const weights = new Map([['dense', byName.get('dense_a')!], ['dense_1', byName.get('dense_b')!], ['dense_2', byName.get('dense_out')!]]);
    await writeKeras3(file, functionalConfig(FUNC, 'k3'), weights, dir);
    const model = await loadKerasModel(file);
    expect(maxAbsDiff(model, funcRef, xFunc)).toBeLessThan(1e-6);
    model.dispose();
  });

  it('a vars group whose recorded layer name disagrees with the layout is refused, not loaded into the wrong layer', async () => {
    const file = path.join(dir, 'func-misnamed.keras');
    const byName = layerWeights(funcRef);
    // Same shapes, swapped places: only the `name` attribute newer Keras writes can tell.
    const weights = new Map([['dense', byName.get('dense_b')!], ['dense_1', byName.get('dense_a')!], ['dense_2', byName.get('dense_out')!]]);
    await writeKeras3(file, functionalConfig(FUNC, 'k3'), weights, dir, { dense: 'dense_b', dense_1: 'dense_a', dense_2: 'dense_out' });
    const err = await loadKerasModel(file).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(ModelFormatError);
    expect((err as Error).message).toMatch(/layers\/dense\/vars holds the weights of layer "dense_b", expected "dense_a"/);
  });
});

describe('loadKerasModel: nested models', () => {
  const innerDense: LayerSpec = { cls: 'Dense', name: 'inner_dense', units: 4, activation: 'relu' };
  const innerBn: LayerSpec = { cls: 'BatchNormalization', name: 'inner_bn', axis: 1 };
  const head: LayerSpec = { cls: 'Dense', name: 'head', units: 3, activation: 'linear' };

  function nestedReference(): tf.LayersModel {
    const block = tf.sequential({ name: 'block', layers: [tf.layers.dense({ inputShape: [6], units: 4, activation: 'relu', name: 'inner_dense' }), tf.layers.batchNormalization({ name: 'inner_bn' })] });
    const input = tf.input({ shape: [6], name: 'input_1' });
    const out = tf.layers.dense({ units: 3, name: 'head' }).apply(block.apply(input) as tf.SymbolicTensor) as tf.SymbolicTensor;
    const m = tf.model({ inputs: input, outputs: out });
    randomize(m);
    return m;
  }

  /** A functional config whose middle layer is a whole Sequential model, in Keras 2 or 3 form. */
  function nestedConfig(style: 'k2' | 'k3') {
    const inner = sequentialConfig([6], [innerDense, innerBn], style === 'k2' ? 'k2-dict' : 'k3') as { config: Record<string, unknown> };
    (inner.config as { name: string }).name = 'block';
    // Keras keeps layer names unique across the whole model: the nested input layer gets a suffix.
    const innerInput = (inner.config as { layers: { config: { name: string } }[] }).layers[0];
    innerInput.config.name = `${innerInput.config.name}_1`;
    const f = functionalConfig({ inputShape: [6], layers: [{ spec: { cls: 'Flatten', name: 'block' }, inputs: ['input'] }, { spec: head, inputs: ['block'] }], output: 'head' }, style) as {
      config: { layers: Record<string, unknown>[] };
    };
    // Swap the placeholder for the nested model, keeping its node wiring.
    const slot = f.config.layers[1];
    f.config.layers[1] = { ...slot, class_name: 'Sequential', config: inner.config, ...(style === 'k3' ? { module: 'keras', registered_name: null } : {}) };
    expect(kerasLayerConfig(head, style).units).toBe(3);
    return f as unknown as Parameters<typeof writeKeras2H5>[1];
  }

  it('Keras 2 .h5: a Sequential inside a functional model gets its weights in order', async () => {
    const ref = nestedReference();
    const file = path.join(dir, 'nested.h5');
    await writeKeras2H5(file, nestedConfig('k2'), layerWeights(ref));
    const model = await loadKerasModel(file);
    expect(maxAbsDiff(model, ref, xFunc)).toBeLessThan(1e-6);
    model.dispose();
    ref.dispose();
  });

  it('Keras 3 .keras: nested layers are read from layers/<model group>/layers/<layer group>/vars', async () => {
    const ref = nestedReference();
    const block = ref.getLayer('block') as tf.Sequential;
    const weights = layerWeights(ref);
    weights.delete('block');
    weights.delete('input_1');
    weights.set('dense', weights.get('head')!);
    weights.delete('head');
    // The nested Sequential is the model's only `sequential`; inside it, one Dense and one BatchNormalization.
    const group = { inner_dense: 'dense', inner_bn: 'batch_normalization' } as Record<string, string>;
    for (const l of block.layers) weights.set(`sequential/layers/${group[l.name]}`, l.weights.map((w) => ({ name: w.originalName, values: w.read().dataSync() as Float32Array, shape: [...w.shape] as number[] })));
    const file = path.join(dir, 'nested.keras');
    await writeKeras3(file, nestedConfig('k3') as never, weights, dir);
    const model = await loadKerasModel(file);
    expect(maxAbsDiff(model, ref, xFunc)).toBeLessThan(1e-6);
    model.dispose();
    ref.dispose();
  });
});

describe('loadKerasModel: bad inputs', () => {
  async function expectFormatError(file: string, pattern: RegExp): Promise<void> {
    const err = await loadKerasModel(file).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(ModelFormatError);
    expect((err as Error).message).toContain(file);
    expect((err as Error).message).toMatch(pattern);
  }

  it('a text file named .h5 is not HDF5', async () => {
    const file = path.join(dir, 'text.h5');
    await fs.writeFile(file, 'hello, not a model');
    await expectFormatError(file, /not an HDF5 file/);
  });

  it('a missing file is reported', async () => {
    await expectFormatError(path.join(dir, 'nope.h5'), /cannot read file \(ENOENT\)/);
  });

  it('a corrupt .keras zip is rejected', async () => {
    const good = path.join(dir, 'good.keras');
    await writeKeras3(good, sequentialConfig([8, 8, 1], SEQ, 'k3'), layerWeights(seqRef), dir);
    const bytes = new Uint8Array(await fs.readFile(good));
    const file = path.join(dir, 'truncated.keras');
    await fs.writeFile(file, bytes.subarray(0, Math.floor(bytes.length / 2)));
    await expectFormatError(file, /corrupt zip|no config\.json/);
    const file2 = path.join(dir, 'notzip.keras');
    await fs.writeFile(file2, '{"json": true}');
    await expectFormatError(file2, /not a zip archive/);
  });

  it('an .h5 without model_config (weights only) is rejected', async () => {
    const file = path.join(dir, 'weights-only.h5');
    await writeKeras2H5(file, null, layerWeights(seqRef));
    await expectFormatError(file, /missing root attribute model_config/);
  });

  it('an unsupported layer class is named', async () => {
    const file = path.join(dir, 'custom.h5');
    const layers: LayerSpec[] = [...SEQ.slice(0, 4), { cls: 'MyFancyAttention', name: 'fancy_1' }];
    await writeKeras2H5(file, sequentialConfig([8, 8, 1], layers, 'k2-dict'), layerWeights(seqRef));
    await expectFormatError(file, /layer "fancy_1" has class MyFancyAttention/);
  });

  it('a ReLU with a negative slope or threshold (tfjs would ignore them) is named', async () => {
    const file = path.join(dir, 'leaky.h5');
    const config = sequentialConfig([8, 8, 1], SEQ, 'k2-dict') as { config: { layers: unknown[] } };
    config.config.layers.splice(2, 0, { class_name: 'ReLU', config: { name: 're_lu', max_value: 6, negative_slope: 0.1, threshold: 0 } });
    await writeKeras2H5(file, config as never, layerWeights(seqRef));
    await expectFormatError(file, /layer "re_lu" \(ReLU\) sets negative_slope=0.1, which tfjs's ReLU does not support/);
  });

  it('a weight of the wrong shape is named with both shapes', async () => {
    const file = path.join(dir, 'badshape.keras');
    const weights = layerWeights(seqRef);
    const dense = weights.get('dense')!;
    dense[0] = { ...dense[0], values: new Float32Array(36 * 6), shape: [36, 6] };
    await writeKeras3(file, sequentialConfig([8, 8, 1], SEQ, 'k3'), weights, dir);
    await expectFormatError(file, /weight dense\/kernel of layer "dense" has shape \[36, 6\], expected \[36, 5\]/);
  });

  it('a layer with missing weights is named', async () => {
    const file = path.join(dir, 'missing-layer.h5');
    const weights = layerWeights(seqRef);
    weights.delete('batch_normalization');
    await writeKeras2H5(file, sequentialConfig([8, 8, 1], SEQ, 'k2-dict'), weights);
    await expectFormatError(file, /no weights stored for layer "batch_normalization"/);
  });

  it('a .keras layer whose storage group is missing says where it looked', async () => {
    const file = path.join(dir, 'missing-group.keras');
    const byName = layerWeights(funcRef);
    // Stored under the layer's own name, as Keras 3 never does: dense_a's group is layers/dense.
    await writeKeras3(file, functionalConfig(FUNC, 'k3'), new Map([['dense_a', byName.get('dense_a')!]]), dir);
    await expectFormatError(file, /no weights stored for layer "dense_a" \(looked in layers\/dense\/vars\)/);
  });

  it('a failed import leaks no tensors', async () => {
    const file = path.join(dir, 'leak.keras');
    const weights = layerWeights(seqRef);
    weights.get('dense')!.pop();
    await writeKeras3(file, sequentialConfig([8, 8, 1], SEQ, 'k3'), weights, dir);
    const start = tf.memory().numTensors;
    await expectFormatError(file, /layer "dense" \(Dense\) has 1 stored weights, expected 2/);
    expect(tf.memory().numTensors).toBe(start);
  });
});
