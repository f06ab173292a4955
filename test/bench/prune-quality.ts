/**
 * Pruning quality on the full Fashion-MNIST: train a dense model, prune 90% of its weights with one
 * global magnitude threshold, fine-tune a few epochs with masks held, and compare test accuracy.
 * Target (issue 3): within 0.5 points of the dense model.
 *
 * Run: npx tsx test/bench/prune-quality.ts [--models lenet-300-100,lenet-5] [--epochs 8] [--ft-epochs 6]
 *        [--sparsity 0.9] [--backend wasm] [--limit N] [--control] [--ft-lr 1e-3]
 *        [--schedules oneshot,poly,iterative:3]
 * `--limit` caps training samples per epoch (quick smoke runs); the test split is always used in full.
 * `--control` also trains a copy of the dense model for the fine-tuning epochs (same optimizer and
 * learning rate), so the pruned model is compared with a dense model that trained as long.
 * `--schedules` prunes a copy of the same dense model once per schedule.
 */
import * as tf from '@tensorflow/tfjs';
import { cloneModel } from '../../src-main/engine/finetune/clone';
import { evaluateModel } from '../../src-main/engine/finetune/evaluate';
import { finetuneMasked } from '../../src-main/engine/finetune/trainer';
import { validatePruneConfig } from '../../src-main/engine/prune/config';
import { runPruning } from '../../src-main/engine/prune/run';
import type { PruneProgress, ScheduleConfig } from '../../src-main/engine/prune/types';
import { initBackend } from '../../src-main/node/backend';
import { loadDataset } from '../../src-main/node/datasets';
import { buildModel, type BenchModel } from './bench-models';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const models = arg('models', 'lenet-300-100,lenet-5').split(',') as BenchModel[];
const epochs = Number(arg('epochs', '8'));
const ftEpochs = Number(arg('ft-epochs', '6'));
const sparsity = Number(arg('sparsity', '0.9'));
const limit = arg('limit', '') ? Number(arg('limit', '')) : undefined;
const backend = arg('backend', 'wasm');
const control = process.argv.includes('--control');
const ftLr = Number(arg('ft-lr', '1e-3'));
const schedules = arg('schedules', 'oneshot').split(',');

/** oneshot | poly (Zhu & Gupta over the first two thirds of fine-tuning) | iterative:K */
function scheduleOf(name: string): ScheduleConfig {
  if (name === 'oneshot') return { kind: 'oneshot' };
  if (name === 'poly') return { kind: 'poly', initialSparsity: 0 };
  const m = /^iterative:(\d+)$/.exec(name);
  if (m) return { kind: 'iterative', rounds: Number(m[1]) };
  throw new Error(`unknown schedule ${name}: oneshot, poly or iterative:K`);
}
const BATCH = 128;

function epochLogger(label: string): (p: PruneProgress) => void {
  let t0 = performance.now();
  return (p) => {
    if (p.phase !== 'epoch') return;
    const s = ((performance.now() - t0) / 1000).toFixed(1);
    t0 = performance.now();
    console.error(`  ${label} epoch ${p.epoch + 1}: loss ${p.loss.toFixed(4)} acc ${(p.accuracy * 100).toFixed(2)}% sparsity ${(p.sparsity * 100).toFixed(1)}% (${s}s)`);
  };
}

async function main(): Promise<void> {
  const info = await initBackend({ force: backend });
  const data = await loadDataset('fashion-mnist');
  console.error(`backend ${info.name} (threads ${info.threads ?? '?'}, simd ${info.simd ?? '?'}); train ${data.train.size}, test ${data.test.size}`);
  const results = [];
  for (const name of models) {
    const model = buildModel(name);
    const t0 = performance.now();
    // The dense baseline uses the same loop (no masks) so both sides train identically.
    await finetuneMasked(model, data.train, { epochs, batchSize: BATCH, learningRate: 1e-3, optimizer: 'adam', maxSamplesPerEpoch: limit }, {
      masks: new Map(),
      seed: 1,
      onProgress: epochLogger(`${name} dense`),
    });
    const dense = evaluateModel(model, data.test, { batchSize: 1000 });
    const trainSeconds = (performance.now() - t0) / 1000;
    const ftConfig = { epochs: ftEpochs, batchSize: BATCH, learningRate: ftLr, optimizer: 'adam' as const, ...(limit ? { maxSamplesPerEpoch: limit } : {}) };
    let controlAccuracy: number | undefined;
    if (control) {
      const copy = await cloneModel(model);
      await finetuneMasked(copy, data.train, ftConfig, { masks: new Map(), seed: 2, onProgress: epochLogger(`${name} dense control`) });
      controlAccuracy = evaluateModel(copy, data.test, { batchSize: 1000 }).accuracy;
      copy.dispose();
    }
    for (const scheduleName of schedules) {
      // Each schedule starts from its own copy of the same dense model.
      const student = await cloneModel(model);
      const cfg = validatePruneConfig(
        { method: 'magnitude', scope: 'global', sparsity, schedule: scheduleOf(scheduleName), finetune: ftConfig, seed: 2 },
        student,
      );
      const t1 = performance.now();
      const { plan } = await runPruning(student, data, cfg, { onProgress: epochLogger(`${name} pruned ${scheduleName}`) });
      const pruned = evaluateModel(student, data.test, { batchSize: 1000 });
      student.dispose();
      const row = {
        model: name,
        backend: info.name,
        schedule: scheduleName,
        denseEpochs: epochs,
        finetuneEpochs: ftEpochs,
        finetuneLearningRate: ftLr,
        targetSparsity: sparsity,
        achievedSparsity: Number(plan.achievedSparsity.toFixed(6)),
        // Later rounds overwrite earlier ones: the sparsity each layer ended with.
        perLayer: Object.fromEntries(plan.steps.flatMap((st) => (st.kind === 'mask' ? [[st.layer, Number(st.sparsity.toFixed(4))]] : []))),
        denseAccuracy: Number((dense.accuracy * 100).toFixed(2)),
        prunedAccuracy: Number((pruned.accuracy * 100).toFixed(2)),
        deltaPoints: Number(((pruned.accuracy - dense.accuracy) * 100).toFixed(2)),
        withinTarget: dense.accuracy - pruned.accuracy <= 0.005,
        ...(controlAccuracy === undefined
          ? {}
          : {
              controlAccuracy: Number((controlAccuracy * 100).toFixed(2)),
              deltaVsControlPoints: Number(((pruned.accuracy - controlAccuracy) * 100).toFixed(2)),
            }),
        denseTrainSeconds: Number(trainSeconds.toFixed(1)),
        pruneFinetuneSeconds: Number(((performance.now() - t1) / 1000).toFixed(1)),
      };
      results.push(row);
      console.log(
        `${name} [${scheduleName}]: dense ${row.denseAccuracy}% -> ${(row.achievedSparsity * 100).toFixed(1)}% sparse ${row.prunedAccuracy}% ` +
          `(delta ${row.deltaPoints >= 0 ? '+' : ''}${row.deltaPoints} points, ${row.withinTarget ? 'within' : 'OUTSIDE'} 0.5)` +
          (row.controlAccuracy === undefined ? '' : `; dense trained as long: ${row.controlAccuracy}% (delta ${row.deltaVsControlPoints} points)`),
      );
    }
    model.dispose();
  }
  console.log(JSON.stringify({ tfjs: tf.version.tfjs, results }, null, 2));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
