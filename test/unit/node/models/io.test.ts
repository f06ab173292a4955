import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import { mkdtempSync, promises as fs, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, ModelFormatError } from '../../../../src-main/common/errors';
import { lenet5 } from '../../../../src-main/engine/models';
import { demoModelPath, fileHandler, loadModel, saveModel } from '../../../../src-main/node/models';

const root = mkdtempSync(path.join(os.tmpdir(), 'topiary-models-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshDir = () => path.join(root, `m${n++}`);

/** Dense 3 -> 2 named d1: kernel [3, 2] (6 floats) + bias [2] = 32 bytes of weights. */
function tinyModel(): tf.Sequential {
  const model = tf.sequential();
  model.add(tf.layers.dense({ inputShape: [3], units: 2, name: 'd1' }));
  const k = tf.tensor2d([
    [1, 2],
    [3, 4],
    [5, 6],
  ]);
  const b = tf.tensor1d([0.5, -0.5]);
  model.setWeights([k, b]);
  tf.dispose([k, b]);
  return model;
}

/** A saved tiny model whose model.json the test can then edit. */
async function savedTiny(): Promise<{ dir: string; json: any; jsonPath: string; shard: string }> {
  const dir = freshDir();
  const model = tinyModel();
  await saveModel(model, dir);
  model.dispose();
  const jsonPath = path.join(dir, 'model.json');
  return { dir, jsonPath, json: JSON.parse(readFileSync(jsonPath, 'utf8')), shard: path.join(dir, 'group1-shard1of1.bin') };
}

async function expectModelError(spec: string, pattern: RegExp): Promise<void> {
  const before = tf.memory().numTensors;
  const err = await loadModel(spec).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ModelFormatError);
  expect((err as Error).message).toMatch(pattern);
  // A model built before the weights were found wrong must be disposed.
  expect(tf.memory().numTensors).toBe(before);
}

describe('saveModel / loadModel round trip', () => {
  it('preserves predictions exactly across several shards', async () => {
    const model = lenet5({ seed: 5 });
    const dir = freshDir();
    const saved = await saveModel(model, dir, { shardBytes: 64 * 1024 });
    // 61,706 float32 weights = 246,824 bytes -> 4 shards of at most 65,536 bytes.
    expect(saved.files.map((f) => path.basename(f))).toEqual([
      'model.json',
      'group1-shard1of4.bin',
      'group1-shard2of4.bin',
      'group1-shard3of4.bin',
      'group1-shard4of4.bin',
    ]);
    const sizes = await Promise.all(saved.files.map(async (f) => (await fs.stat(f)).size));
    expect(sizes.slice(1)).toEqual([65_536, 65_536, 65_536, 246_824 - 3 * 65_536]);
    expect(saved.bytes).toBe(sizes.reduce((a, b) => a + b, 0));

    const loaded = await loadModel(dir);
    expect(loaded.format).toBe('tfjs');
    expect(loaded.source).toBe(path.join(dir, 'model.json'));
    expect(loaded.files).toEqual(saved.files);
    const x = tf.randomUniform([3, 28, 28, 1], 0, 1, 'float32', 9);
    const a = model.predict(x) as tf.Tensor;
    const b = loaded.model.predict(x) as tf.Tensor;
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    tf.dispose([x, a, b]);
    model.dispose();
    loaded.model.dispose();
  });

  it('hashes model.json and shards in manifest order, stably', async () => {
    const { dir, jsonPath, shard } = await savedTiny();
    const want = createHash('sha256').update(readFileSync(jsonPath)).update(readFileSync(shard)).digest('hex');
    const first = await loadModel(jsonPath);
    const second = await loadModel(dir);
    expect(first.sha256).toBe(want);
    expect(second.sha256).toBe(want);
    const bytes = readFileSync(shard);
    bytes[0] ^= 1;
    writeFileSync(shard, bytes);
    const changed = await loadModel(dir);
    expect(changed.sha256).not.toBe(want);
    [first, second, changed].forEach((l) => l.model.dispose());
  });

  it('fileHandler rejects a shard size below 4 bytes', () => {
    expect(() => fileHandler(freshDir(), { shardBytes: 2 })).toThrow(ConfigError);
  });

  it('fileHandler works directly with tf.loadLayersModel and model.save', async () => {
    const model = tinyModel();
    const dir = freshDir();
    await model.save(fileHandler(dir));
    const back = await tf.loadLayersModel(fileHandler(path.join(dir, 'model.json')));
    expect(back.getWeights()[0].arraySync()).toEqual([
      [1, 2],
      [3, 4],
      [5, 6],
    ]);
    model.dispose();
    back.dispose();
  });

  it('reads a Teachable-Machine-style model.json without "format" and with a model_config wrapper', async () => {
    const { dir, json, shard } = await savedTiny();
    const tm = {
      modelTopology: { keras_version: '2.3.1', backend: 'tensorflow', model_config: json.modelTopology },
      weightsManifest: [{ paths: ['weights.bin'], weights: json.weightsManifest[0].weights }],
    };
    writeFileSync(path.join(dir, 'model.json'), JSON.stringify(tm));
    await fs.rename(shard, path.join(dir, 'weights.bin'));
    const loaded = await loadModel(dir);
    const x = tf.tensor2d([[1, 1, 1]]);
    const y = loaded.model.predict(x) as tf.Tensor;
    // [1,1,1] . kernel + bias = [9 + 0.5, 12 - 0.5]
    expect(Array.from(y.dataSync())).toEqual([9.5, 11.5]);
    expect(loaded.files.map((f) => path.basename(f))).toEqual(['model.json', 'weights.bin']);
    tf.dispose([x, y]);
    loaded.model.dispose();
  });
});

describe('quantized tfjs weights', () => {
  it('loads uint8-quantized manifest entries and checks their byte length', async () => {
    const { jsonPath, json, shard } = await savedTiny();
    // Kernel [1..6] as uint8 with min 1 and scale 5/255: q = 0, 51, 102, 153, 204, 255.
    json.weightsManifest[0].weights[0].quantization = { dtype: 'uint8', min: 1, scale: 5 / 255 };
    writeFileSync(jsonPath, JSON.stringify(json));
    const bias = readFileSync(shard).subarray(24, 32);
    // Still 32 bytes: the manifest now says 6 + 8 = 14.
    await expectModelError(jsonPath, /is 32 bytes, expected 14/);
    writeFileSync(shard, Buffer.concat([Buffer.from([0, 51, 102, 153, 204, 255]), bias]));
    const loaded = await loadModel(jsonPath);
    const [k, b] = loaded.model.getWeights();
    Array.from(k.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(i + 1, 5));
    expect(Array.from(b.dataSync())).toEqual([0.5, -0.5]);
    loaded.model.dispose();
  });
});

describe('loadModel rejects bad input with ModelFormatError naming the file', () => {
  it('a path that does not exist', async () => {
    const p = path.join(root, 'nope');
    await expectModelError(p, new RegExp(`^${p}: not found$`));
    await expectModelError(path.join(root, 'nope.h5'), /nope\.h5: not found/);
  });

  it('a folder without model.json', async () => {
    const dir = freshDir();
    await fs.mkdir(dir);
    await expectModelError(dir, /folder has no model\.json/);
  });

  it('malformed JSON, with line, column and position', async () => {
    const dir = freshDir();
    await fs.mkdir(dir);
    const text = '{\n  "format": "layers-model",\n  "modelTopology": }\n';
    writeFileSync(path.join(dir, 'model.json'), text);
    const pos = text.indexOf('}');
    await expectModelError(dir, new RegExp(`model\\.json: malformed JSON at line 3, column 20 \\(position ${pos}\\): expected a value, found '}'`));
    writeFileSync(path.join(dir, 'model.json'), '{"modelTopology": {"a": 1');
    await expectModelError(dir, /line 1, column 26 \(position 25\): expected ',' or '}', found end of text/);
  });

  it('a graph model, saying it is not a layers model', async () => {
    const dir = freshDir();
    await fs.mkdir(dir);
    writeFileSync(
      path.join(dir, 'model.json'),
      JSON.stringify({ format: 'graph-model', modelTopology: { node: [], versions: {} }, weightsManifest: [] }),
    );
    await expectModelError(dir, /is a tfjs graph model .* not a layers model/);
  });

  it('a missing shard', async () => {
    const { dir, shard } = await savedTiny();
    rmSync(shard);
    await expectModelError(dir, /model\.json: shard group1-shard1of1\.bin is missing/);
  });

  it('a shard of the wrong length, with expected and actual bytes', async () => {
    const { dir, shard } = await savedTiny();
    writeFileSync(shard, readFileSync(shard).subarray(0, 20));
    await expectModelError(dir, /shard group1-shard1of1\.bin is 20 bytes, expected 32/);
  });

  it('an unknown layer class, named', async () => {
    const { jsonPath, json } = await savedTiny();
    json.modelTopology.config.layers[0].class_name = 'FancyDense';
    writeFileSync(jsonPath, JSON.stringify(json));
    await expectModelError(jsonPath, /unknown layer class "FancyDense" \(layer "d1" at layers\[0\]\)/);
  });

  it('a weight the topology needs is missing', async () => {
    const { jsonPath, json, shard } = await savedTiny();
    json.weightsManifest[0].weights = json.weightsManifest[0].weights.filter((w: { name: string }) => w.name !== 'd1/bias');
    writeFileSync(jsonPath, JSON.stringify(json));
    writeFileSync(shard, readFileSync(shard).subarray(0, 24));
    await expectModelError(jsonPath, /weights do not match the topology: missing weights d1\/bias$/);
  });

  it('a weight the topology does not have', async () => {
    const { jsonPath, json, shard } = await savedTiny();
    json.weightsManifest[0].weights.push({ name: 'd1/extra', shape: [1], dtype: 'float32' });
    writeFileSync(jsonPath, JSON.stringify(json));
    writeFileSync(shard, Buffer.concat([readFileSync(shard), Buffer.alloc(4)]));
    await expectModelError(jsonPath, /weights not in the topology d1\/extra/);
  });

  it('a weight of the wrong shape, naming it', async () => {
    const { jsonPath, json } = await savedTiny();
    json.weightsManifest[0].weights[0].shape = [2, 3];
    writeFileSync(jsonPath, JSON.stringify(json));
    await expectModelError(jsonPath, /weight d1\/kernel has shape \[2, 3\] but the topology needs \[3, 2\]/);
  });

  it('Keras files are handed to the Keras importer', async () => {
    const file = path.join(root, 'garbage.h5');
    writeFileSync(file, 'definitely not hdf5');
    await expectModelError(file, /garbage\.h5: not an HDF5 file/);
  });
});

describe('demo model', () => {
  it('resolves to resources/demo/model/model.json in the repository', () => {
    const p = demoModelPath();
    expect(path.isAbsolute(p)).toBe(true);
    expect(p.endsWith(path.join('resources', 'demo', 'model', 'model.json'))).toBe(true);
    expect(path.dirname(path.dirname(path.dirname(path.dirname(p))))).toBe(path.resolve(__dirname, '../../../..'));
  });
});
