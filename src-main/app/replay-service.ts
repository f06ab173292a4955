/**
 * Replays a recorded run's pruning plan on the run's original model: the same weights removed (or
 * the same units and filters), bit for bit, without fine-tuning. This is what makes a stored plan
 * worth keeping: anyone with the original model can reproduce the pruned one.
 */
import * as tf from '@tensorflow/tfjs';
import { ConfigError } from '../common/errors';
import { analyzeModel } from '../engine/analyze';
import { applyPlan } from '../engine/prune/plan';
import { applyStructuredSteps, type StructuredPlanStep } from '../engine/prune/structured';
import type { PruningPlan } from '../engine/prune/types';
import { initBackend } from '../node/backend';
import { checkOutputFolder } from '../node/output-paths';
import { loadModel, saveModel } from '../node/models';
import { resolveRunModel } from './run-pipeline';
import type { AppServices } from './services';

export interface ReplayResult {
  runId: string;
  model: string;
  outDir: string;
  steps: number;
  params: number;
  nonZeros: number;
  macs: number;
}

export async function replayRun(services: Pick<AppServices, 'history' | 'runsDir'>, runIdOrPrefix: string, outDir: string): Promise<ReplayResult> {
  checkOutputFolder(outDir, 'replay destination');
  await initBackend();
  const run = services.history.show(runIdOrPrefix);
  const plan = run.plan as PruningPlan | null;
  if (!plan || !Array.isArray(plan.steps) || plan.steps.length === 0) {
    throw new ConfigError(`run ${run.id} has no pruning plan to replay (status ${run.status})`);
  }
  const spec = resolveRunModel(String(run.config.model), services.runsDir);
  const loaded = await loadModel(spec);
  if (loaded.sha256 !== run.model.sha256) {
    loaded.model.dispose();
    throw new ConfigError(`${loaded.source}: the model changed since run ${run.id} (sha256 ${loaded.sha256.slice(0, 12)}, the run used ${run.model.sha256.slice(0, 12)})`);
  }
  let model: tf.LayersModel = loaded.model;
  try {
    const kinds = new Set(plan.steps.map((s) => s.kind));
    if (kinds.size > 1) throw new ConfigError(`run ${run.id}: a plan that mixes mask and structured steps cannot be replayed`);
    if (kinds.has('structured')) model = applyStructuredSteps(loaded.model, plan.steps as unknown as StructuredPlanStep[]);
    else applyPlan(loaded.model, plan);
    await saveModel(model, outDir);
    const a = analyzeModel(model, { gzip: false });
    return { runId: run.id, model: loaded.source, outDir, steps: plan.steps.length, params: a.params, nonZeros: a.nonZeros, macs: a.macs };
  } finally {
    if (model !== loaded.model) model.dispose();
    loaded.model.dispose();
  }
}
