/**
 * The deployed-artifact view of a stored run, added when the history reads it: the headline size
 * (what the pipeline recorded, or worked out from the artifacts for a run recorded before it did,
 * or exported after it ended), the stored fit verdict, and the per-layer structure rows.
 */
import type { ArtifactRecord, LayerWidths, RunDetail, RunFitVerdict, RunSummary, ShippedSize } from '../../common/contract';
import { layerStructure } from './structure';
import { shippedSize } from './shipped';

/** The recorded headline size, unless the run has exports it did not know of (or none was recorded). */
export function shippedOf(summary: RunSummary | null, artifacts: () => readonly ArtifactRecord[]): ShippedSize {
  const recorded = summary?.shipped as ShippedSize | undefined;
  if (recorded && recorded.source === 'export') return recorded;
  const files = artifacts();
  if (recorded && files.length === 0) return recorded;
  const inMemory = summary?.after?.sizeBytes;
  return shippedSize(files, typeof inMemory === 'number' ? inMemory : null, null);
}

/** `run` with `shipped`, `fit` and `structure` filled in. */
export function withDeployView(run: RunDetail): RunDetail {
  const summary = run.summary;
  return {
    ...run,
    shipped: shippedOf(summary, () => run.artifacts),
    fit: (summary?.fit as RunFitVerdict | undefined) ?? null,
    structure: layerStructure(run.layers, summary?.widths as LayerWidths | undefined),
  };
}
