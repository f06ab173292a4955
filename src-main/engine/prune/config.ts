/**
 * PruneConfig validation. The rules that need no model are the common PruneConfigSchema
 * (src-main/common/prune-config.ts), shared with the contract, the CLI and the wizard; what is
 * added here needs the model: layer names, N:M divisibility, and that something (but not
 * everything) is pruned. Validation happens once, at the boundary; the pruning code after it
 * trusts the config.
 */
import type * as tf from '@tensorflow/tfjs';
import { ConfigError } from '../../common/errors';
import { defaultPruneConfig, parsePruneConfig } from '../../common/prune-config';
import type { PruneConfig } from './types';
import { inputSize, prunableWeights } from './weights';

export { defaultPruneConfig };

/**
 * Checks a raw (parsed JSON / CLI) config, fills defaults, and — given the model — checks layer
 * names, N:M divisibility and that something (but not everything) is pruned.
 * Throws ConfigError naming the field, e.g. `sparsity must be in [0, 1), got 1.2`.
 * @example validatePruneConfig({ method: 'lamp', sparsity: 0.8 }, model)
 */
export function validatePruneConfig(raw: unknown, model?: tf.LayersModel): PruneConfig {
  const cfg = parsePruneConfig(raw);
  if (model) checkAgainstModel(cfg, model);
  return cfg;
}

function checkAgainstModel(cfg: PruneConfig, model: tf.LayersModel): void {
  const layerNames = new Set(model.layers.map((l) => l.name));
  const weights = prunableWeights(model);
  for (const w of weights) layerNames.add(w.layer);
  const prunableNames = new Set(weights.map((w) => w.layer));
  for (const name of cfg.ignore ?? []) {
    if (!layerNames.has(name)) throw new ConfigError(`ignore: unknown layer "${name}" (layers: ${[...layerNames].join(', ')})`);
  }
  for (const name of Object.keys(cfg.perLayer ?? {})) {
    if (!layerNames.has(name)) throw new ConfigError(`perLayer: unknown layer "${name}" (layers: ${[...layerNames].join(', ')})`);
    if (!prunableNames.has(name)) throw new ConfigError(`perLayer: layer "${name}" has no prunable kernel`);
  }
  const ignored = new Set(cfg.ignore ?? []);
  const active = weights.filter((w) => !ignored.has(w.layer));
  if (cfg.granularity === 'nm') {
    const nm = cfg.nm ?? { n: 2, m: 4 };
    const nmActive = active.filter((w) => w.layerClass !== 'DepthwiseConv2D');
    for (const w of nmActive) {
      if (inputSize(w) % nm.m !== 0) {
        throw new ConfigError(
          `nm: M=${nm.m} does not divide the input size ${inputSize(w)} of layer "${w.layer}" (ignore it or pick another M)`,
        );
      }
    }
    if (nmActive.length === 0) throw new ConfigError('nothing to prune: no Dense/Conv2D layer is left for N:M after ignore');
    return;
  }
  if (active.length === 0) throw new ConfigError('nothing to prune: every prunable layer is ignored');
  for (const w of active) {
    const s = cfg.perLayer?.[w.layer] ?? (cfg.scope === 'layer' ? cfg.sparsity : undefined);
    if (s === undefined || cfg.granularity === 'structured') continue;
    const total = w.shape.reduce((a, b) => a * b, 1);
    if (Math.round(s * total) >= total) {
      throw new ConfigError(`sparsity ${s} would prune every weight of layer "${w.layer}" (${total} weights)`);
    }
  }
  if (cfg.scope === 'global' && cfg.granularity !== 'structured') {
    const total = active.reduce((a, w) => a + w.shape.reduce((x, y) => x * y, 1), 0);
    if (Math.round(cfg.sparsity * total) >= total) {
      throw new ConfigError(`sparsity ${cfg.sparsity} would prune every one of the ${total} prunable weights`);
    }
  }
}
