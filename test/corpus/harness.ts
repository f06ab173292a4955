/**
 * The corpus harness (the test files beside it pick which models run, so vitest can run the light
 * and the 224x224 ones in parallel). Every pipeline step, through the `topiary` CLI as a user runs it, on each model of the real-model
 * corpus (test/fixtures/real-models/manifest.json): public trained models (Teachable Machine exports,
 * Keras 2 .h5, Keras 3 .keras, tfjs converter output, a regression MLP) and look-alikes of unlicensed
 * ones. Each step is its own test, named by model and step, so a failure says which model broke where.
 *
 * Data: calibration / evaluation sets are synthesised at run time in the model's input shape and
 * scaling (smooth seeded patterns, written as an npz the way a user would hand over MNIST), kept tiny
 * so the whole file stays within a few minutes on two cores; the regression model uses its eval.csv.
 */
import * as tf from '@tensorflow/tfjs';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { zipSync } from 'fflate';
import { beforeAll, describe, expect, it } from 'vitest';
import { seededRandom } from '../../src-main/engine/data';
import { loadModel } from '../../src-main/node/models';

// import.meta.url, not __dirname: test/corpus/report.ts imports this file outside vitest, as ESM.
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const corpus = path.join(root, 'test', 'fixtures', 'real-models');
const home = fs.mkdtempSync(path.join(os.tmpdir(), 'topiary-real-models-'));

export interface Entry {
  id: string;
  kind: string;
  format: 'keras-h5' | 'keras-v3' | 'tfjs-layers';
  file: string;
  lookalike: boolean;
  task: 'classification' | 'regression';
  inputShape: number[];
  inputScaling: [number, number] | null;
  labels: string[] | null;
  evalData?: string;
  leafLayers: number;
  files: Record<string, { bytes: number; sha256: string }>;
  /** Which test file owns the model ('unseen': unseen-models.test.ts); absent for the first corpus. */
  suite?: string;
  /** false: the generic steps do not fit it (its data or a refusal); its own file tests it. */
  corpusSuite?: boolean;
  /** A data spec the steps use instead of synthetic samples (the data the model was trained on). */
  data?: string;
}

export const manifest = JSON.parse(fs.readFileSync(path.join(corpus, 'manifest.json'), 'utf8')) as { models: Entry[] };

export function topiary(args: string[], timeout = 280_000) {
  const r = spawnSync(process.execPath, [path.join(root, 'bin', 'topiary.mjs'), ...args], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, TOPIARY_HOME: home, TOPIARY_BACKEND: 'wasm', CI: '1' },
    timeout,
    maxBuffer: 64 * 1024 * 1024,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, signal: r.signal };
}

/** The CLI's --json document, or a failure that shows what the command printed instead. */
export function jsonOf(r: ReturnType<typeof topiary>): Record<string, unknown> {
  try {
    return JSON.parse(r.stdout) as Record<string, unknown>;
  } catch {
    throw new Error(`no JSON on stdout (exit ${r.code}${r.signal ? `, ${r.signal}` : ''}):\n${r.stderr.slice(-3000)}`);
  }
}

/** The --json document of a command that must have succeeded (the CLI prints {error} otherwise). */
export function resultOf(r: ReturnType<typeof topiary>): Record<string, unknown> {
  const d = jsonOf(r);
  if (d.error) {
    const err = d.error as { name: string; message: string; exitCode?: number };
    throw new Error(`exit ${r.code}: ${err.name}: ${err.message}`);
  }
  return d;
}

/** The last non-empty line a command wrote (the error, after any progress bars). */
export const lastLine = (text: string) => text.split(/\r?\n|\r/).map((l) => l.trim()).filter(Boolean).pop() ?? '';

export const modelPath = (e: Entry) => path.join(corpus, 'models', e.id, e.file);
export const heavy = (e: Entry) => e.inputShape.reduce((a, b) => a * b, 1) > 50_000;
const prod = (s: readonly (number | null)[]) => s.reduce<number>((a, d) => a * (d ?? 1), 1);

// ------------------------------------------------------------------ synthetic data in npz form

/** One .npy payload (format 1.0): magic, little-endian header dict padded to 64 bytes, raw data. */
function npy(dtype: '<f4' | '|u1' | '<i4', shape: number[], data: Float32Array | Uint8Array | Int32Array): Uint8Array {
  let header = `{'descr': '${dtype}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const pad = 64 - ((10 + header.length + 1) % 64);
  header += ' '.repeat(pad % 64) + '\n';
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0], 0);
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + header.length);
  return out;
}


/**
 * Smooth image-like samples (sums of two seeded plane waves per channel) in [lo, hi]: closer to
 * photos than white noise, so activations and int8 ranges behave as on real inputs.
 */
function synthSamples(shape: number[], n: number, [lo, hi]: [number, number], seed: number): Float32Array {
  const r = seededRandom(seed); // the engine's mulberry32: every run sees the same samples
  const [h, w, c] = shape.length === 1 ? [1, shape[0], 1] : [shape[0], shape[1], shape[2] ?? 1];
  const per = h * w * c;
  const out = new Float32Array(n * per);
  for (let s = 0; s < n; s++) {
    for (let ch = 0; ch < c; ch++) {
      const f = [r() * 0.4, r() * 0.4, r() * 0.3, r() * 0.3, r() * 6.28, r() * 6.28];
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const v = 0.5 + 0.25 * Math.sin(f[0] * y + f[1] * x + f[4]) + 0.25 * Math.sin(f[2] * y - f[3] * x + f[5]);
          out[s * per + (y * w + x) * c + ch] = lo + (hi - lo) * v;
        }
      }
    }
  }
  return out;
}

/**
 * An npz with x_train/y_train/x_test/y_test for a classification model. [0, 1] models get uint8
 * samples (the loader scales them by 1/255, as for MNIST); 28x28 inputs are stored [N, 28, 28] as
 * MNIST npz files are; other scalings are float32 as stored.
 */
function classificationNpz(e: Entry, n: number): string {
  const file = path.join(home, `${e.id}-data.npz`);
  if (fs.existsSync(file)) return file;
  const classes = e.labels?.length ?? 2;
  const scaling = e.inputScaling ?? [0, 1];
  const unit = scaling[0] === 0 && scaling[1] === 1;
  const imageShape = e.inputShape.length === 2 ? [...e.inputShape, 1] : e.inputShape;
  const storedShape = e.inputShape.length === 2 || (imageShape.length === 3 && imageShape[2] === 1) ? imageShape.slice(0, 2) : imageShape;
  const part = (seed: number) => {
    const x = synthSamples(imageShape, n, unit ? [0, 255] : scaling, seed);
    const data = unit ? Uint8Array.from(x, (v) => Math.round(v)) : x;
    const y = Int32Array.from({ length: n }, (_, i) => i % classes);
    return { x: npy(unit ? '|u1' : '<f4', [n, ...storedShape], data), y: npy('<i4', [n], y) };
  };
  const train = part(1);
  const test = part(2);
  fs.writeFileSync(file, zipSync({ 'x_train.npy': train.x, 'y_train.npy': train.y, 'x_test.npy': test.x, 'y_test.npy': test.y }, { level: 0 }));
  return file;
}

export function dataSpec(e: Entry): string {
  if (e.data) return e.data;
  if (e.task === 'regression') return `csv:${path.join(corpus, 'models', e.id, e.evalData ?? 'eval.csv')}`;
  // Image models trained on photos are calibrated and verified on photos (the corpus folder, fitted
  // to 224x224 by the loader): on synthetic waves a trained MobileNet answers near-uniformly, so any
  // quantization flips its near-ties (top-1 agreement 75% for int8 and uint8 on 8 such samples,
  // against 100% with max |diff| 0.04 / 0.01 on photos). A look-alike with a seeded class layer
  // knows no photos either (its two classes tie on them), so it keeps the synthetic set. See the
  // corpus README.
  if (e.kind === 'teachable-machine-image' && !e.lookalike) return `images:${path.join(corpus, 'photos')}`;
  return `npz:${classificationNpz(e, heavy(e) ? 8 : 48)}`;
}

// ------------------------------------------------------------------ the flat copy of a model

interface Step {
  name: string;
  bytes: number;
  inbound: string[];
}

const isModel = (l: tf.layers.Layer): l is tf.LayersModel => l instanceof tf.LayersModel;

/**
 * The model's leaf layers as one flat graph, nested models inlined: a nested model's inputs are
 * wired to whatever fed it, its outputs stand for it downstream. InputLayers are aliases, not steps.
 */
function flatten(model: tf.LayersModel, inputs: string[], prefix: string, steps: Step[]): string[] {
  const leafBytes = (l: tf.layers.Layer) => {
    const s = l.outputShape as (number | null)[] | (number | null)[][];
    const shapes = Array.isArray(s[0]) ? (s as (number | null)[][]) : [s as (number | null)[]];
    return shapes.reduce((a, sh) => a + 4 * prod(sh.slice(1)), 0);
  };
  if (model instanceof tf.Sequential) {
    let cur = inputs;
    for (const l of model.layers) {
      if (l.getClassName() === 'InputLayer') continue;
      if (isModel(l)) {
        cur = flatten(l, cur, `${prefix}${l.name}/`, steps);
      } else {
        steps.push({ name: prefix + l.name, bytes: leafBytes(l), inbound: cur });
        cur = [prefix + l.name];
      }
    }
    return cur;
  }
  const config = model.getConfig() as unknown as {
    layers: { name: string; className: string; inboundNodes?: unknown[][] }[];
    inputLayers: [string, number, number][];
    outputLayers: [string, number, number][];
  };
  const alias = new Map<string, string[]>();
  config.inputLayers.forEach(([name], i) => alias.set(name, [inputs[i] ?? inputs[0]]));
  for (const lc of config.layers) {
    if (lc.className === 'InputLayer') continue;
    const node = (lc.inboundNodes?.[0] ?? []) as unknown[];
    const inbound = node.flatMap((entry) => (Array.isArray(entry) ? alias.get(String(entry[0])) ?? [] : []));
    const layer = model.getLayer(lc.name);
    if (isModel(layer)) {
      alias.set(lc.name, flatten(layer, inbound, `${prefix}${lc.name}/`, steps));
    } else {
      steps.push({ name: prefix + lc.name, bytes: leafBytes(layer), inbound });
      alias.set(lc.name, [prefix + lc.name]);
    }
  }
  return config.outputLayers.flatMap(([name]) => alias.get(name) ?? []);
}

/** Live bytes peak over a topological order: a tensor lives from its producer to its last reader. */
function peakLive(steps: Step[], outputs: string[]): number {
  const at = new Map(steps.map((s, i) => [s.name, i]));
  const lastUse = steps.map(() => -1);
  steps.forEach((s, i) => s.inbound.forEach((src) => {
    const j = at.get(src);
    if (j !== undefined) lastUse[j] = Math.max(lastUse[j], i);
  }));
  for (const o of outputs) {
    const j = at.get(o);
    if (j !== undefined) lastUse[j] = steps.length;
  }
  let peak = 0;
  steps.forEach((s, i) => {
    let live = s.bytes;
    for (let j = 0; j < i; j++) if (lastUse[j] >= i) live += steps[j].bytes;
    peak = Math.max(peak, live);
  });
  return peak;
}

export async function flatCopy(e: Entry): Promise<{ leaves: Step[]; peak: number }> {
  const { model } = await loadModel(modelPath(e));
  try {
    const input: Step = { name: '(input)', bytes: 4 * prod(model.inputs[0].shape.slice(1)), inbound: [] };
    const steps: Step[] = [input];
    const outputs = flatten(model, [input.name], '', steps);
    return { leaves: steps.slice(1), peak: peakLive(steps, outputs) };
  } finally {
    model.dispose();
  }
}

// ------------------------------------------------------------------ the tests

interface AnalyzeRow { name: string; className: string }

/** Registers one describe block per manifest model that `which` selects, a test per pipeline step. */
export function corpusSuite(which: (e: Entry) => boolean): void {
  describe.each(manifest.models.filter((e) => e.corpusSuite !== false).filter(which))('real model $id', (e) => {
  const stepTimeout = heavy(e) ? 300_000 : 120_000;

  beforeAll(() => {
    expect(fs.existsSync(modelPath(e)), modelPath(e)).toBe(true);
  });

  it(`${e.id}: committed files match the manifest's sha256`, () => {
    for (const [name, want] of Object.entries(e.files)) {
      const bytes = fs.readFileSync(path.join(corpus, 'models', e.id, name));
      expect(bytes.byteLength, name).toBe(want.bytes);
      expect(createHash('sha256').update(bytes).digest('hex'), name).toBe(want.sha256);
      expect(bytes.byteLength, `${name} must stay under 4 MiB`).toBeLessThan(4 * 1024 * 1024);
    }
  });

  it(`${e.id}: analyze lists every nested layer and the peak activation memory of a flat copy`, async () => {
    const r = topiary(['analyze', modelPath(e), '--json']);
    const a = resultOf(r).analysis as { layers: AnalyzeRow[]; peakActivationBytes: number };
    expect(r.code, r.stderr).toBe(0);
    const rows = a.layers.filter((l) => l.className !== 'InputLayer');
    const flat = await flatCopy(e);
    expect(flat.leaves.length, 'leaf layers of the tfjs model vs the file config (manifest)').toBe(e.leafLayers);
    expect(rows.length, `analyze rows: ${rows.map((l) => l.name).slice(0, 8).join(', ')}...`).toBe(e.leafLayers);
    const rowNames = rows.map((l) => l.name);
    const missing = flat.leaves
      .map((s) => s.name.split('/').pop() as string)
      .filter((leaf) => !rowNames.some((n) => n === leaf || n.endsWith(`/${leaf}`)));
    expect(missing, 'leaf layers absent from the analyze table').toEqual([]);
    expect(Math.abs(a.peakActivationBytes - flat.peak), `peak ${a.peakActivationBytes} vs flat copy ${flat.peak}`).toBeLessThanOrEqual(0.1 * flat.peak);
  }, stepTimeout);

  const exportStep = (format: 'tflite' | 'tfjs', quant: string) => () => {
    const out = path.join(home, `${e.id}-${format}-${quant}`);
    const samples = heavy(e) ? '8' : '40';
    const r = topiary(['export', modelPath(e), '--format', format, '--quant', quant, '--calib', dataSpec(e), '--samples', samples, '--out', out, '--overwrite', '--json']);
    const d = resultOf(r);
    const artifact = d.artifact as { status: string; reason?: string; verification?: Record<string, unknown> };
    expect(artifact.status, `${artifact.reason ?? ''} ${JSON.stringify(artifact.verification ?? {})}`).toBe('ok');
    expect(r.code, r.stderr.slice(-2000)).toBe(0);
    expect(fs.existsSync(path.join(out, format === 'tflite' ? 'model.tflite' : 'model.json'))).toBe(true);
  };

  it(`${e.id}: TF Lite float32 export verifies with LiteRT`, exportStep('tflite', 'none'), stepTimeout);
  it(`${e.id}: TF Lite full-int8 export verifies with LiteRT`, exportStep('tflite', 'int8'), stepTimeout);
  it(`${e.id}: tfjs uint8 export verifies with the stock tfjs loader`, exportStep('tfjs', 'uint8'), stepTimeout);

  it(`${e.id}: structured 50% prune really reduces MACs, or refuses before any work`, () => {
    const runsBefore = jsonOf(topiary(['runs', 'list', '--json'])).total;
    const r = topiary([
      'prune', modelPath(e), '--data', dataSpec(e), '--granularity', 'structured', '--sparsity', '0.5',
      '--epochs', '0', '--no-sensitivity', '--eval-limit', heavy(e) ? '8' : '40', '--json',
    ]);
    if (r.code === 2) {
      // A refusal must name the problem and leave no run behind.
      const said = lastLine(r.stderr);
      expect(said).toMatch(/structured|cannot prune|not supported|no prunable/i);
      const runsAfter = jsonOf(topiary(['runs', 'list', '--json'])).total;
      expect(runsAfter, 'a refused prune records no run').toBe(runsBefore);
      return;
    }
    const run = resultOf(r) as unknown as { status: string; summary: { prune: { macsFraction: number }; before: { macs: number }; after: { macs: number } } };
    expect(run.status).toBe('done');
    expect(run.summary.after.macs).toBeLessThan(run.summary.before.macs);
    expect(run.summary.prune.macsFraction).toBeLessThanOrEqual(0.75);
  }, stepTimeout);

  it(`${e.id}: fit on the mobile-midrange profile returns a verdict`, () => {
    const r = topiary(['fit', modelPath(e), '--profile', 'mobile-midrange', '--latency-runs', '0', '--json']);
    const verdict = resultOf(r) as { fits: unknown; profileId: string };
    expect(typeof verdict.fits).toBe('boolean');
    expect(verdict.profileId).toBe('mobile-midrange');
    expect(r.code).toBe(verdict.fits ? 0 : 1);
  }, stepTimeout);
});
}

/** The photo-folder run on the Teachable Machine tfjs export. */
export function photoFolderSuite(): void {
  describe('a folder of photos on a 224x224x3 Teachable Machine model', () => {
  it('tm-tfjs-ab: prune --data images:DIR of mixed-size JPEG and PNG photos runs end to end', () => {
    const photos = path.join(corpus, 'photos');
    const files = fs.readdirSync(photos, { recursive: true }).map(String).filter((f) => /\.(jpe?g|png)$/i.test(f));
    expect(files.length).toBeGreaterThanOrEqual(6);
    const r = topiary([
      'prune', path.join(corpus, 'models', 'tm-tfjs-ab', 'model.json'), '--data', `images:${photos}`,
      '--sparsity', '0.3', '--epochs', '1', '--batch-size', '2', '--no-sensitivity', '--json',
    ]);
    const run = resultOf(r) as unknown as { status: string; summary: { before: { accuracy: number }; after: { accuracy: number } } };
    expect(run.status).toBe('done');
    expect(Number.isFinite(run.summary.after.accuracy)).toBe(true);
  }, 300_000);
});
}
