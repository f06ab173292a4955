/**
 * Fit to budget end to end: a widened LeNet-style CNN, trained briefly on synthetic data, exceeds
 * the microcontroller profile's flash and RAM; `fitToBudget` prunes, fine-tunes and exports it, and
 * the .tflite file on disk proves it now fits.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fitToBudget } from '../../src-main/app/fit-service';
import { ProfileService } from '../../src-main/app/profile-service';
import { openAppServices, type AppServices } from '../../src-main/app/services';
import { builtinProfile } from '../../src-main/common/profiles';
import { readTflite } from '../../src-main/engine/export/tflite';
import { arenaEstimate } from '../../src-main/engine/fit';
import { compileClassifier, labelTensor } from '../../src-main/engine/models';
import { initBackend } from '../../src-main/node/backend';
import { syntheticMnist, widenedLenet } from './fit-fixtures';
import { saveModel } from '../../src-main/node/models';

const home = fs.mkdtempSync(path.join(os.tmpdir(), 'topiary-fit-'));
const mcu = builtinProfile('mcu-cortex-m4')!;

let services: AppServices;
const dataDir = path.join(home, 'data');
const modelDir = path.join(home, 'model');

beforeAll(async () => {
  process.env.TOPIARY_BACKEND = 'wasm';
  await initBackend({ force: 'wasm' });
  const { x, y } = syntheticMnist(dataDir, 320, 200);
  const model = compileClassifier(widenedLenet());
  const xs = tf.tensor(x.subarray(0, 256 * 784), [256, 28, 28, 1]);
  const ys = labelTensor(y.subarray(0, 256));
  await model.fit(xs, ys, { epochs: 1, batchSize: 32, verbose: 0, shuffle: false });
  tf.dispose([xs, ys]);
  await saveModel(model, modelDir);
  model.dispose();
  services = await openAppServices({ dbPath: path.join(home, 'topiary.db'), home, mode: 'in-process' });
});

afterAll(async () => {
  await services?.close();
  fs.rmSync(home, { recursive: true, force: true });
});

describe('fit to budget (microcontroller)', () => {
  it('brings a model over the flash and RAM budgets within both, proven by the exported file', async () => {
    const profiles = new ProfileService(services.store);
    const r = await fitToBudget(services, profiles, {
      model: modelDir,
      data: `idx:${dataDir}`,
      profile: 'mcu-cortex-m4',
      epochs: 1,
      maxSamplesPerEpoch: 128,
      evalLimit: 100,
      verifySamples: 200,
      refine: 1,
      calibrationSamples: 32,
      levels: [0.2, 0.4, 0.6, 0.8],
    });

    // The unpruned model did not fit: flash and RAM were binding.
    expect(r.baseline.fits).toBe(false);
    expect(r.binding.map((b) => b.constraint)).toEqual(expect.arrayContaining(['storage', 'ram']));
    expect(r.baseline.sizeBytes!).toBeGreaterThan(mcu.storageBytes);
    expect(r.baseline.arena!.totalBytes).toBeGreaterThan(mcu.ramBytes);

    expect(r.feasible, r.reason ?? '').toBe(true);
    expect(r.runStatus).toBe('done');
    expect(r.best!.numericType).toBe('int8');

    // The file on disk is the proof.
    const bytes = new Uint8Array(fs.readFileSync(r.artifact!.path));
    expect(bytes.byteLength).toBeLessThanOrEqual(mcu.storageBytes);
    expect(r.final!.sizeBytes).toBe(bytes.byteLength);
    const info = readTflite(bytes, r.artifact!.path);
    const arena = arenaEstimate(info, mcu.runtimeOverhead);
    expect(arena.totalBytes).toBeLessThanOrEqual(mcu.ramBytes);
    expect(info.tensors.some((t) => t.dtype === 'int8')).toBe(true);
    expect(info.operators.every((o) => mcu.supportedOps.includes(o.op))).toBe(true);
    expect(r.final!.fits, JSON.stringify(r.final!.constraints)).toBe(true);
    expect(r.final!.constraints.every((c) => c.passed)).toBe(true);
    expect(r.artifact!.verified, JSON.stringify(services.history.show(r.runId!).artifacts[0].verification)).toBe(true);

    // The run is recorded with every candidate the search tried.
    const run = services.history.show(r.runId!);
    expect(run.profileId).toBe('mcu-cortex-m4');
    expect(run.tags).toContain('fit-to-budget');
    const levels = run.metrics.find((m) => m.phase === 'fit-search' && m.name === 'level');
    expect(levels?.points.length).toBe(r.candidates.length);
    expect(run.metrics.some((m) => m.phase === 'fit' && m.name === 'storage.value')).toBe(true);
  });
});
