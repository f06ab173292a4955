/**
 * Tensor-arena estimate over an exported TFLite op graph. TFLite (and TFLite Micro's greedy memory
 * planner) give every non-constant tensor a slot from the op that writes it to the last op that
 * reads it; tensors whose lifetimes overlap need separate memory. The peak of the live set is a
 * lower bound for any planner and what a good planner reaches on a chain.
 */
import type { ArenaEstimate, RuntimeOverhead } from '../../common/profiles';
import type { TfliteInfo } from '../export/tflite';

const DTYPE_BYTES: Record<string, number> = { float32: 4, float16: 2, int32: 4, uint8: 1, int8: 1 };

/** Bytes of one tensor (int8 = 1 byte per element); unknown dtypes count 4 bytes per element. */
function tensorBytes(shape: number[], dtype: string): number {
  const elems = shape.reduce((a, d) => a * Math.max(1, d), 1);
  return elems * (DTYPE_BYTES[dtype] ?? 4);
}

/**
 * Peak activation bytes of a .tflite graph plus the runtime's bookkeeping.
 *
 * live(k) = Σ bytes(t) over non-constant tensors t with first(t) <= k <= last(t), where first is
 * the op that writes t (-1 for graph inputs) and last the final op reading it (the end for graph
 * outputs); activation = max_k live(k). Overhead = base + perTensor * tensors + perOp * ops +
 * perQuantChannel * Σ channels of per-channel quantized weights (TFLM keeps an int32 multiplier
 * and shift per output channel). Reshape aliasing is not modelled, so the estimate errs high.
 *
 * @example
 * const a = arenaEstimate(readTflite(bytes), profile.runtimeOverhead);
 * a.totalBytes <= profile.ramBytes  // opLayers (exportTflite's ops[].layer) name the peak's layer
 */
export function arenaEstimate(info: TfliteInfo, overhead: RuntimeOverhead, opLayers?: readonly string[]): ArenaEstimate {
  const isConst = (t: number): boolean => {
    const b = info.tensors[t]?.buffer ?? 0;
    return b > 0 && (info.buffers[b]?.length ?? 0) > 0;
  };
  const n = info.operators.length;
  const first = new Map<number, number>();
  const last = new Map<number, number>();
  const touch = (t: number, k: number): void => {
    if (t < 0 || isConst(t)) return;
    if (!first.has(t)) first.set(t, k);
    last.set(t, Math.max(last.get(t) ?? k, k));
  };
  for (const t of info.inputs) touch(t, -1);
  info.operators.forEach((op, k) => {
    for (const t of op.outputs) touch(t, k);
    for (const t of op.inputs) touch(t, k);
  });
  for (const t of info.outputs) touch(t, n);

  let activationBytes = 0;
  let peakAt: ArenaEstimate['peakAt'] = null;
  for (let k = 0; k < n; k++) {
    let live = 0;
    for (const [t, f] of first) {
      if (f <= k && (last.get(t) ?? f) >= k) live += tensorBytes(info.tensors[t].shape, info.tensors[t].dtype);
    }
    if (live > activationBytes) {
      activationBytes = live;
      const op = info.operators[k];
      peakAt = { index: k, op: op.op, layer: opLayers?.[k] ?? info.tensors[op.outputs[0]]?.name ?? '' };
    }
  }
  let quantChannels = 0;
  for (let t = 0; t < info.tensors.length; t++) {
    const tensor = info.tensors[t];
    if (isConst(t) && (tensor.dtype === 'int8' || tensor.dtype === 'uint8') && tensor.scale.length > 1) quantChannels += tensor.scale.length;
  }
  const overheadBytes =
    overhead.baseBytes + overhead.perTensorBytes * info.tensors.length + overhead.perOpBytes * n + overhead.perQuantChannelBytes * quantChannels;
  return { activationBytes, overheadBytes, weightBytes: 0, totalBytes: activationBytes + overheadBytes, peakAt };
}
