/** A run that fails names the phase (and, in fine-tuning, the epoch and batch) with a remedy for wasm OOM. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { RunPhaseError } from '../../src-main/common/errors';
import { RunConfigSchema } from '../../src-main/common/run-config';
import { inPhase } from '../../src-main/app/run-errors';
import { executeRun } from '../../src-main/app/run-pipeline';
import type { RunEvent } from '../../src-main/app/run-events';
import { writeRegressionFixture } from './regression-fixture';

const home = fs.mkdtempSync(path.join(os.tmpdir(), 'topiary-phase-'));
let fixture: { model: string; csv: string };

beforeAll(async () => {
  process.env.TOPIARY_BACKEND = 'wasm';
  fixture = await writeRegressionFixture(path.join(home, 'fixture'), 300);
});

const config = () =>
  RunConfigSchema.parse({
    model: fixture.model,
    data: `csv:${fixture.csv}#target=age`,
    sensitivity: false,
    latencyRuns: 1,
    prune: { sparsity: 0.5, finetune: { epochs: 2, batchSize: 16 } },
  });

/** Runs the pipeline with an event sink that throws `error` at the first event `when` accepts. */
async function failAt(when: (e: RunEvent) => boolean, error: Error): Promise<RunPhaseError> {
  const runDir = path.join(home, 'runs', String(Math.random()).slice(2));
  const err = await executeRun({ runId: 'r', config: config(), runDir }, (e) => {
    if (when(e)) throw error;
  }).then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(RunPhaseError);
  return err as RunPhaseError;
}

describe('run errors name their phase', () => {
  it('a wasm out-of-bounds during fine-tuning names epoch and batch and suggests a smaller batch', async () => {
    const err = await failAt(
      (e) => e.type === 'progress' && e.progress.phase === 'finetune' && e.progress.epoch === 2 && e.progress.done > 0,
      new RangeError('memory access out of bounds'),
    );
    expect(err.phase).toBe('finetune');
    expect(err.name).toBe('RangeError');
    expect(err.exitCode).toBe(1);
    expect(err.message).toMatch(/^fine-tuning failed \(epoch 2, batch \d+\): memory access out of bounds — the wasm heap ran out; try --batch-size 8$/);
  });

  it('a failure while exporting names the export and keeps a bad-input exit code', async () => {
    const cfg = config();
    cfg.exports = [{ format: 'tflite', quant: 'int8', verifySamples: 10 }];
    const runDir = path.join(home, 'runs', 'export');
    const { ConfigError } = await import('../../src-main/common/errors');
    const err = await executeRun({ runId: 'r', config: cfg, runDir }, (e) => {
      if (e.type === 'progress' && e.progress.phase === 'export') throw new ConfigError('calibration data is unreadable');
    }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(RunPhaseError);
    expect((err as RunPhaseError).message).toBe('export failed (tflite int8): calibration data is unreadable');
    expect((err as RunPhaseError).exitCode).toBe(2);
    expect((err as RunPhaseError).name).toBe('ConfigError');
  });

  it('remedies depend on the phase; cancellation is never wrapped', async () => {
    const oom = new Error('Aborted(). Build with -sASSERTIONS for more info.');
    expect((inPhase(oom, { phase: 'baseline' }, 64) as Error).message).toMatch(/^baseline measurement failed: Aborted\(\).* — the wasm heap ran out while evaluating; try a smaller --eval-limit/);
    expect((inPhase(oom, { phase: 'verify', what: 'tfjs uint8' }, 64) as Error).message).toMatch(/^verification failed \(tfjs uint8\): .*verify on fewer samples/);
    expect((inPhase(new Error('boom'), { phase: 'prune' }, 64) as Error).message).toBe('pruning failed: boom');
    const { CancelledError } = await import('../../src-main/common/errors');
    const c = new CancelledError();
    expect(inPhase(c, { phase: 'finetune', epoch: 1 }, 64)).toBe(c);
  });
});
