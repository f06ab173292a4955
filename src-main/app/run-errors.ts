/**
 * Errors that name the phase of the run they happened in, with a remedy for the failures users
 * can act on: the wasm heap running out ("memory access out of bounds", "Aborted()", failed
 * allocations) is the usual one, and its fix depends on the phase (a smaller fine-tuning batch, a
 * smaller evaluation, fewer verification samples).
 */
import { CancelledError, RunPhaseError } from '../common/errors';
import type { RunProgress } from '../common/run-config';

/** Where a run is: the phase and, within it, what the message should name. */
export interface RunPlace {
  phase: RunProgress['phase'];
  /** Fine-tuning: 1-based epoch and batch. */
  epoch?: number;
  batch?: number;
  /** Export/verify: the format and quantization, e.g. `tflite int8`. */
  what?: string;
}

const PHASE_WORDS: Record<RunProgress['phase'], string> = {
  load: 'loading',
  baseline: 'baseline measurement',
  sensitivity: 'sensitivity scan',
  prune: 'pruning',
  finetune: 'fine-tuning',
  final: 'final measurement',
  export: 'export',
  verify: 'verification',
  done: 'finishing',
};

/** The messages wasm (Emscripten, XNNPACK, V8) gives when the heap is exhausted or corrupted by it. */
const OUT_OF_MEMORY = /memory access out of bounds|Aborted\(|out of memory|Array buffer allocation failed|Cannot enlarge memory|could not allocate|WebAssembly\.Memory/i;

/** True when `message` is how a wasm out-of-memory shows up. */
export function isOutOfMemory(message: string): boolean {
  return OUT_OF_MEMORY.test(message);
}

function remedy(place: RunPlace, batchSize: number): string {
  switch (place.phase) {
    case 'finetune':
      return `the wasm heap ran out; try --batch-size ${Math.max(1, Math.floor(batchSize / 2))}`;
    case 'baseline':
    case 'final':
    case 'sensitivity':
      return 'the wasm heap ran out while evaluating; try a smaller --eval-limit, --no-sensitivity, or TOPIARY_BACKEND=cpu';
    case 'export':
    case 'verify':
      return 'the wasm heap ran out; verify on fewer samples (--samples, or verifySamples in the export request)';
    default:
      return 'the model or dataset does not fit in memory; try a smaller dataset or TOPIARY_BACKEND=cpu';
  }
}

/**
 * Wraps an error with the phase it happened in; CancelledError and errors already wrapped pass
 * through. `batchSize` is the fine-tuning batch, for the remedy.
 * @example throw inPhase(err, { phase: 'finetune', epoch: 1, batch: 3 }, 64)
 * // fine-tuning failed (epoch 1, batch 3): memory access out of bounds — the wasm heap ran out; try --batch-size 32
 */
export function inPhase(err: unknown, place: RunPlace, batchSize: number): unknown {
  if (err instanceof CancelledError || err instanceof RunPhaseError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const where =
    place.phase === 'finetune' && place.epoch !== undefined
      ? ` (epoch ${place.epoch}${place.batch !== undefined ? `, batch ${place.batch}` : ''})`
      : place.what
        ? ` (${place.what})`
        : '';
  const hint = isOutOfMemory(message) ? ` — ${remedy(place, batchSize)}` : '';
  return new RunPhaseError(place.phase, `${PHASE_WORDS[place.phase]} failed${where}: ${message}${hint}`, err);
}
