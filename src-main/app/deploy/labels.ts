/**
 * The method a run is listed under. A run whose config prunes nothing (sparsity 0 and no layer
 * given a ratio above 0, as fit-to-budget plans when the unpruned model already fits) is not
 * labelled with a pruning method as if it had pruned.
 */

export interface MethodParts {
  method: string;
  granularity: string;
  sparsity: number;
  perLayer?: Record<string, number>;
}

/**
 * @example methodLabel({ method: 'magnitude', granularity: 'structured', sparsity: 0, perLayer: {} }) // 'fit to budget: no pruning needed'
 * @example methodLabel({ method: 'magnitude', granularity: 'unstructured', sparsity: 0.5 }) // 'magnitude/unstructured'
 */
export function methodLabel(c: MethodParts): string {
  const prunes = c.sparsity > 0 || Object.values(c.perLayer ?? {}).some((s) => s > 0);
  if (prunes) return `${c.method}/${c.granularity}`;
  // A per-layer map (even an empty one) is what a fit-to-budget plan hands a run.
  return c.perLayer !== undefined ? 'fit to budget: no pruning needed' : 'no pruning (sparsity 0)';
}
