/**
 * Sensitivity-driven uint8 -> uint16 raising for the tfjs exporter. The tfjs manifest quantizes per
 * tensor, so a few kernels of a deep net (MobileNetV2's expansion and projection 1x1 convolutions,
 * say) carry most of the uint8 error. Which ones is measured, not guessed: each uint8 kernel is
 * quantized alone (everything else float) and the change of the model's outputs on calibration
 * inputs is its sensitivity; then the fewest most-sensitive kernels are raised to uint16 that bring
 * the whole export within the target on the calibration inputs (a search over that ranking, since
 * raising more never helps less in practice; the smallest passing prefix is kept).
 *
 * The same greedy ranking is what mixed-precision work calls "one-at-a-time" sensitivity (e.g.
 * HAWQ-style layer ordering by measured perturbation, without the Hessian).
 */

/** How an export's outputs compare with the float model's on the calibration inputs. */
export interface RaiseMeasure {
  /** Fraction of calibration samples whose top-1 class matches the float model's. */
  top1Agreement: number;
  maxAbsDiff: number;
  meanAbsDiff: number;
}

export interface RaiseTarget {
  /** Least top-1 agreement on the calibration inputs; default 1 (every sample). */
  top1Agreement: number;
  /** Largest output difference on the calibration inputs. */
  maxAbsDiff: number;
}

/**
 * Default target: every calibration sample keeps its class, and no output moves by more than 0.05,
 * half the 0.1 a uint8 tfjs export is verified at (TFJS_VERIFY_TOLERANCE), leaving room for inputs
 * the calibration did not hold. Agreement alone is too weak: on the nested MobileNetV2-0.35 it is
 * met with outputs still 0.14 off on new photos, which fails verification.
 */
export const DEFAULT_RAISE_TARGET: RaiseTarget = { top1Agreement: 1, maxAbsDiff: 0.05 };

export interface RaiseDecision {
  /** Kernels raised to uint16 by measurement, most sensitive first. */
  raised: { name: string; sensitivity: number }[];
  /** The export as judged on the calibration inputs before and after raising. */
  before: RaiseMeasure;
  after: RaiseMeasure;
  /** True when the target (relaxed to the reachable, see `reached`) was met; false: the size cap stopped short of it. */
  met: boolean;
  /** Exports evaluated on the calibration inputs. */
  evaluations: number;
  /** The target actually applied: the requested one, relaxed to what raising every candidate reaches. */
  reached: RaiseTarget;
}

export interface RaiseSearch {
  /** uint8 kernels that may be raised, in manifest order (the order ties are broken in). */
  candidates: string[];
  /** Measures the export with `uint8Alone` the only quantized kernel (all else float), or the full export with `raised` written as uint16. */
  measure: (plan: { uint8Alone: string } | { raised: ReadonlySet<string> }) => Promise<RaiseMeasure>;
  target?: RaiseTarget;
  /** Most kernels raised (a size cap); default all candidates. */
  maxRaised?: number;
  onProgress?: (done: number, total: number) => void;
  /** Extra bytes raising a kernel costs (its element count will do); kernels are ranked by sensitivity per cost. Default 1 each. */
  cost?: (name: string) => number;
}

function meets(m: RaiseMeasure, t: RaiseTarget): boolean {
  return m.top1Agreement >= t.top1Agreement && m.maxAbsDiff <= t.maxAbsDiff;
}

/**
 * Chooses the kernels to raise. Evaluations are bounded: one for the export as it is, one with
 * every candidate raised (what is reachable), one per candidate (sensitivity), then a binary search over how many of the ranked kernels to raise
 * (ceil(log2(candidates + 1)) + 1 at most). Deterministic: sensitivities tie-break by manifest order.
 * An export that already meets the target is left unchanged (nothing is measured beyond it).
 *
 * @example
 * const d = await chooseUint16Raises({ candidates, measure });
 * d.raised.map((r) => r.name) // ['block_3_expand/kernel', ...]
 */
export async function chooseUint16Raises(s: RaiseSearch): Promise<RaiseDecision> {
  const target = s.target ?? DEFAULT_RAISE_TARGET;
  const cap = Math.min(s.candidates.length, s.maxRaised ?? s.candidates.length);
  const searchSteps = Math.ceil(Math.log2(cap + 1)) + 1;
  const total = 2 + s.candidates.length + searchSteps;
  let evaluations = 0;
  const step = async (plan: Parameters<RaiseSearch['measure']>[0]): Promise<RaiseMeasure> => {
    const m = await s.measure(plan);
    evaluations++;
    s.onProgress?.(evaluations, total);
    return m;
  };
  const before = await step({ raised: new Set() });
  if (meets(before, target) || cap === 0) {
    s.onProgress?.(total, total);
    return { raised: [], before, after: before, met: meets(before, target), evaluations, reached: target };
  }
  // What raising can reach at all: a calibration sample whose class flips even with every candidate
  // in uint16 is a near-tie of the float model itself (seen on real photos), not something more
  // precision fixes; the target is relaxed to that ceiling rather than raising everything for it.
  const ceiling = await step({ raised: new Set(s.candidates) });
  const reach: RaiseTarget = {
    top1Agreement: Math.min(target.top1Agreement, ceiling.top1Agreement),
    maxAbsDiff: Math.max(target.maxAbsDiff, ceiling.maxAbsDiff),
  };
  if (meets(before, reach)) {
    s.onProgress?.(total, total);
    return { raised: [], before, after: before, met: true, evaluations, reached: reach };
  }
  const ranked: { name: string; sensitivity: number; order: number; perCost: number }[] = [];
  for (const [order, name] of s.candidates.entries()) {
    const m = await step({ uint8Alone: name });
    ranked.push({ name, sensitivity: m.meanAbsDiff, order, perCost: m.meanAbsDiff / Math.max(1e-12, s.cost?.(name) ?? 1) });
  }
  // Output change bought back per byte: a small kernel that moves the outputs as much as a big one goes first.
  ranked.sort((a, b) => b.perCost - a.perCost || a.order - b.order);
  const prefix = (k: number) => new Set(ranked.slice(0, k).map((r) => r.name));
  // Smallest k in (0, cap] whose prefix meets the target; cap when none does.
  let lo = 1;
  let hi = cap;
  let best: { k: number; m: RaiseMeasure } | null = null;
  while (lo <= hi) {
    const mid = Math.floor((lo + hi) / 2);
    const m = await step({ raised: prefix(mid) });
    if (meets(m, reach)) {
      best = { k: mid, m };
      hi = mid - 1;
    } else {
      lo = mid + 1;
    }
  }
  const k = best?.k ?? cap;
  const after = best?.m ?? (await step({ raised: prefix(cap) }));
  s.onProgress?.(total, total);
  return {
    raised: ranked.slice(0, k).map(({ name, sensitivity }) => ({ name, sensitivity })),
    before,
    after,
    met: best !== null,
    evaluations,
    reached: reach,
  };
}
