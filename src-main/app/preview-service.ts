/** Dataset previews for the wizard: samples as the chosen model will see them. */
import type { InputScaleChoice, ResizeMode } from '../common/input-prep';
import { previewDataset } from '../node/datasets/preview';
import { resolveInputScale, type ResolvedInputScale } from './model-data';
import { openModel } from './model-service';
import type { DatasetPreviewResult } from '../common/contract/results';
// The contract's types, defined in common/contract, re-exported for this module's callers.
export type { DatasetPreviewResult };

export interface PreviewRequest {
  spec: string;
  /** Model spec whose input the samples are fitted to (and whose look resolves `auto`). */
  model?: string;
  inputScale: InputScaleChoice;
  resize: ResizeMode;
  perClass: number;
  maxClasses: number;
}

/**
 * Fits a few samples per class to the model's input and returns them as PNG data URLs.
 * @example await previewForModel({ spec: 'images:photos', model: 'tm/model.json', inputScale: 'auto', resize: 'crop', perClass: 3, maxClasses: 12 })
 */
export async function previewForModel(req: PreviewRequest): Promise<DatasetPreviewResult> {
  let modelInputShape: (number | null)[] | undefined;
  let scale: ResolvedInputScale;
  if (req.model) {
    const loaded = await openModel(req.model);
    try {
      modelInputShape = loaded.model.inputs[0].shape.slice(1);
      scale = resolveInputScale(loaded.model, req.inputScale);
    } finally {
      loaded.model.dispose();
    }
  } else {
    scale = req.inputScale === 'auto'
      ? { inputScale: '0-1', reason: 'no model chosen yet: default' }
      : { inputScale: req.inputScale, reason: 'asked for' };
  }
  const preview = await previewDataset(req.spec, {
    modelInputShape,
    inputScale: scale.inputScale,
    resize: req.resize,
    perClass: req.perClass,
    maxClasses: req.maxClasses,
  });
  return { ...preview, inputScaleReason: scale.reason };
}
