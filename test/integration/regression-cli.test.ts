/**
 * A regression model through the CLI end to end: prune 50 % unstructured, fine-tune with MSE, MAE /
 * RMSE before and after, exports verified by error (TF Lite fp32 + int8, tfjs uint8); and a run
 * that fails late names the phase in the CLI message and in the stored run.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { saveModel } from '../../src-main/node/models/save';
import { writeRegressionFixture } from './regression-fixture';
import { cliIn } from '../support/cli';

const home = fs.mkdtempSync(path.join(os.tmpdir(), 'topiary-regress-'));
let fixture: { model: string; csv: string };

const topiary = cliIn(home);

beforeAll(async () => {
  fixture = await writeRegressionFixture(path.join(home, 'fixture'), 800);
});

// Each case spawns the CLI (tsx start-up plus a run); a shared 2-core machine needs the headroom.
describe('regression through the CLI', { timeout: 300_000 }, () => {
  it('prunes a linear-output MLP, fine-tunes it with MSE, reports MAE/RMSE and verifies exports by error', () => {
    const r = topiary([
      'prune', fixture.model, '--data', `csv:${fixture.csv}#target=age`, '--sparsity', '0.5', '--epochs', '4', '--lr', '0.02',
      '--batch-size', '32', '--no-sensitivity', '--export', 'tflite,tflite:int8,tfjs:uint8', '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const run = JSON.parse(r.stdout);
    expect(run.status).toBe('done');
    expect(run.config.task).toBe('regression');
    const { before, after, task } = run.summary;
    expect(task).toBe('regression');
    expect(before.accuracy).toBeUndefined();
    expect(after.mae).toBeLessThan(before.mae * 0.8);
    expect(after.rmse).toBeLessThan(before.rmse);
    expect(after.rmse).toBeGreaterThanOrEqual(after.mae);
    expect(after.r2).toBeGreaterThan(before.r2);
    expect(run.plan.achievedSparsity).toBeCloseTo(0.5, 2);
    expect(run.artifacts.map((a: { format: string; quant: string }) => `${a.format}:${a.quant}`)).toEqual(['tflite:none', 'tflite:int8', 'tfjs:uint8']);
    for (const a of run.artifacts) {
      expect(a.status, a.reason).toBe('ok');
      expect(a.verification.task).toBe('regression');
      expect(a.verification.top1Agreement).toBeNull();
      expect(a.verification.accuracy).toBeNull();
      // The exported file's MAE is the in-app model's, within the 8-bit bound of 5 % of the targets' std.
      expect(Math.abs(a.verification.mae - after.mae)).toBeLessThan(0.05 * a.verification.scale + 1e-3);
      expect(a.verification.rule).toMatch(/scale = std of the targets/);
    }
    expect(run.artifacts[0].verification.maxAbsDiff).toBeLessThan(1e-3);
    // Train metrics are named for the task: R² per epoch, not accuracy.
    const names = run.metrics.filter((m: { phase: string }) => m.phase === 'train').map((m: { name: string }) => m.name);
    expect(names).toContain('r2');
    expect(names).not.toContain('accuracy');
  });

  it('the text report shows MAE/RMSE rows and no accuracy or top-1', () => {
    const r = topiary(['prune', fixture.model, '--data', `csv:${fixture.csv}#target=age`, '--epochs', '1', '--no-sensitivity', '--export', 'tflite']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^MAE\s+\S+\s+\S+/m);
    expect(r.stdout).toMatch(/^RMSE\s+/m);
    expect(r.stdout).not.toMatch(/accuracy|top-1/);
    expect(r.stdout).toMatch(/MAE in-app/);
  });

  it('evaluate of the regressor prints MAE, RMSE and R²', () => {
    const r = topiary(['evaluate', fixture.model, '--data', `csv:${fixture.csv}#target=age`, '--latency-runs', '2', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const e = JSON.parse(r.stdout);
    expect(e.task).toBe('regression');
    expect(e.mae).toBeGreaterThan(0);
    expect(e.rmse).toBeGreaterThanOrEqual(e.mae);
    expect(e.loss).toBeCloseTo(e.rmse ** 2, 3);
  });

  it('a model whose task cannot be told asks for --task', async () => {
    const m = tf.sequential({ layers: [tf.layers.dense({ inputShape: [8], units: 1, activation: 'tanh' })] });
    const dir = path.join(home, 'tanh');
    await saveModel(m, dir);
    m.dispose();
    const r = topiary(['evaluate', dir, '--data', `csv:${fixture.csv}#target=age`]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/cannot tell whether model .* is a classifier or a regressor .*pass --task/);
    const forced = topiary(['evaluate', dir, '--data', `csv:${fixture.csv}#target=age`, '--task', 'regression', '--latency-runs', '1', '--json']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(JSON.parse(forced.stdout).task).toBe('regression');
  });

  it('a dataset problem found in the baseline phase is named by phase in the message and the stored run', async () => {
    // A 3-class classifier on a CSV whose labels go up to 4: loading passes, the baseline evaluation finds it.
    const m = tf.sequential({ layers: [tf.layers.dense({ inputShape: [2], units: 3, activation: 'softmax' })] });
    const dir = path.join(home, 'three-classes');
    await saveModel(m, dir);
    m.dispose();
    const csv = path.join(home, 'five-labels.csv');
    fs.writeFileSync(csv, 'a,b,label\n' + Array.from({ length: 40 }, (_, i) => `${i % 7},${i % 3},${i % 5}`).join('\n') + '\n');
    const r = topiary(['prune', dir, '--data', `csv:${csv}`, '--epochs', '1', '--no-sensitivity']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/baseline measurement failed: label \d of sample \d+ is outside the model's 3 classes/);
    const list = topiary(['runs', 'list', '--json']);
    const page = JSON.parse(list.stdout) as { items: { id: string; status: string }[] };
    const failed = page.items.find((x) => x.status === 'failed');
    expect(failed).toBeDefined();
    const shown = JSON.parse(topiary(['runs', 'show', failed!.id, '--json']).stdout);
    expect(shown.error).toMatch(/baseline measurement failed/);
  });
});
