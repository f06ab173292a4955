import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { RunDetail } from '../../src-main/common/contract';
import { cliIn } from '../support/cli';

const home = fs.mkdtempSync(path.join(os.tmpdir(), 'topiary-curves-cli-'));
afterAll(() => fs.rmSync(home, { recursive: true, force: true }));

const topiary = cliIn(home);

describe('topiary runs show carries the training curves', () => {
  it('a short real run: --json has a point per step with step, epoch, wall time and values; the text says how many', () => {
    // 640 samples at batch 32: 20 steps, one point each.
    const pruned = topiary(['prune', 'demo', '--data', 'demo', '--epochs', '1', '--max-samples', '640', '--batch-size', '32', '--eval-limit', '200', '--no-sensitivity', '--json']);
    expect(pruned.code, pruned.stderr).toBe(0);
    const runId = (JSON.parse(pruned.stdout) as RunDetail).id;

    const shown = topiary(['runs', 'show', runId, '--json']);
    expect(shown.code, shown.stderr).toBe(0);
    const run = JSON.parse(shown.stdout) as RunDetail;
    expect(run.curves.map((p) => p.step)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(run.curves[19].epoch).toBe(1);
    expect(run.curves[0]).toEqual({ step: 1, epoch: 0.05, wallMs: expect.any(Number), values: { loss: expect.any(Number), accuracy: expect.any(Number), sparsity: 0.5, lr: 0.001 } });
    expect(run.curves[19].wallMs).toBeGreaterThanOrEqual(run.curves[0].wallMs);
    // The stored per-epoch mean is the mean of the steps the curve holds (all of them here, equal-sized batches).
    const epochLoss = run.metrics.find((s) => s.phase === 'train' && s.name === 'loss')!.points[0].value;
    const mean = run.curves.reduce((s, p) => s + p.values.loss, 0) / run.curves.length;
    expect(mean).toBeCloseTo(epochLoss, 5);

    const text = topiary(['runs', 'show', runId]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/curves {4}20 points, steps 1-20, epoch 1\.00 at the end, loss [\d.]+ -> [\d.]+/);
  }, 240_000);
});
