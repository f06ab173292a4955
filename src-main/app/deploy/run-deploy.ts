/**
 * What the run pipeline adds to a run's summary at its end: the file it ships (headline size), the
 * fit verdict of its files against its device profile, and each layer's output width before and
 * after, so run detail, History, Pareto and `runs show` can answer from the deployed artifact.
 */
import type * as tf from '@tensorflow/tfjs';
import type { LayerWidths, RunFitVerdict, ShippedSize } from '../../common/contract';
import { builtinProfile, type Profile } from '../../common/profiles';
import type { ModelAnalysis } from '../../engine/analyze';
import { layerWidths } from './structure';
import { runFitVerdict, shipOrder, type JudgedArtifact } from './run-fit';
import { shippedSize } from './shipped';

export interface DeployedSummary {
  shipped: ShippedSize;
  fit: RunFitVerdict | null;
  widths: LayerWidths;
  /** Headline size metrics: after = the shipped file; before = the parent's file of the same kind, when exported. */
  before: Record<string, number>;
  after: Record<string, number>;
}

/**
 * @example const d = await deploySummary(pruned, profile, artifacts, { before, after, parentFiles })
 */
export async function deploySummary(
  model: tf.LayersModel,
  profile: Profile | undefined,
  artifacts: readonly (JudgedArtifact & { bytes: number })[],
  o: { before: ModelAnalysis; after: ModelAnalysis; parentFiles: ReadonlyMap<string, Uint8Array>; onWarn?: (message: string) => void },
): Promise<DeployedSummary> {
  const shipped = shippedSize(artifacts, o.after.sizeBytes, profile ? shipOrder(profile) : null);
  let fit: RunFitVerdict | null = null;
  if (profile) {
    try {
      fit = await runFitVerdict(model, profile, artifacts, { macs: o.after.macs, params: o.after.params, shipped });
    } catch (err) {
      o.onWarn?.(`no fit verdict for profile ${profile.id}: ${(err as Error).message}`);
    }
  }
  const after: Record<string, number> = {};
  const before: Record<string, number> = {};
  if (shipped.bytes !== null) after.shippedBytes = shipped.bytes;
  const parent = shipped.format === 'tflite' && shipped.quant ? o.parentFiles.get(shipped.quant) : undefined;
  if (parent) before.shippedBytes = parent.length;
  else if (shipped.source === 'in-memory') before.shippedBytes = o.before.sizeBytes;
  return { shipped, fit, widths: layerWidths(o.before.layers, o.after.layers), before, after };
}

/** A built-in profile by id (a stored one reaches the pipeline in its job, resolved by the run service). */
export function profileForRun(id: string | undefined, given?: Profile): Profile | undefined {
  return given ?? (id ? builtinProfile(id) : undefined);
}
