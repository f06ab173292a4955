/**
 * PruneConfig defaults and validation. Validation happens once, at the boundary, and names the
 * field and the problem; the pruning code after it trusts the config.
 */
import type * as tf from '@tensorflow/tfjs';
import { ConfigError } from '../../common/errors';
import { REGRESSION_LOSSES, TASKS } from '../task';
import { GRANULARITIES, PRUNE_METHODS, type PruneConfig, type ScheduleConfig } from './types';
import { inputSize, prunableWeights } from './weights';

/**
 * Sensible defaults: 50% global magnitude pruning, one-shot, two epochs of Adam fine-tuning.
 * @example const cfg = validatePruneConfig({ ...defaultPruneConfig(), sparsity: 0.9 })
 */
export function defaultPruneConfig(): PruneConfig {
  return {
    method: 'magnitude',
    granularity: 'unstructured',
    sparsity: 0.5,
    scope: 'global',
    nm: { n: 2, m: 4 },
    norm: 'l2',
    schedule: { kind: 'oneshot' },
    finetune: { epochs: 2, batchSize: 64, learningRate: 1e-3, optimizer: 'adam' },
    taylorBatches: 8,
    seed: 42,
  };
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function num(v: unknown, field: string, check: (x: number) => boolean, range: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || !check(v)) {
    throw new ConfigError(`${field} must be ${range}, got ${JSON.stringify(v)}`);
  }
  return v;
}
const sparsityOk = (x: number): boolean => x >= 0 && x < 1;
const posInt = (x: number): boolean => Number.isInteger(x) && x > 0;
const nonNegInt = (x: number): boolean => Number.isInteger(x) && x >= 0;

function oneOf<T extends string>(v: unknown, field: string, allowed: readonly T[]): T {
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
    throw new ConfigError(`${field} must be one of ${allowed.join(', ')}, got ${JSON.stringify(v)}`);
  }
  return v as T;
}

function validateSchedule(raw: unknown): ScheduleConfig {
  if (!isObj(raw)) throw new ConfigError(`schedule must be an object, got ${JSON.stringify(raw)}`);
  const kind = oneOf(raw.kind, 'schedule.kind', ['oneshot', 'iterative', 'poly'] as const);
  if (kind === 'oneshot') return { kind };
  if (kind === 'iterative') {
    const rounds = num(raw.rounds, 'schedule.rounds', posInt, 'a positive integer');
    const spacing = raw.spacing === undefined ? undefined : oneOf(raw.spacing, 'schedule.spacing', ['geometric', 'linear'] as const);
    return spacing ? { kind, rounds, spacing } : { kind, rounds };
  }
  const out: ScheduleConfig = {
    kind,
    initialSparsity: num(raw.initialSparsity ?? 0, 'schedule.initialSparsity', sparsityOk, 'in [0, 1)'),
  };
  if (raw.begin !== undefined) out.begin = num(raw.begin, 'schedule.begin', nonNegInt, 'a non-negative integer');
  if (raw.end !== undefined) out.end = num(raw.end, 'schedule.end', nonNegInt, 'a non-negative integer');
  if (raw.frequency !== undefined) out.frequency = num(raw.frequency, 'schedule.frequency', posInt, 'a positive integer');
  if (out.begin !== undefined && out.end !== undefined && out.end <= out.begin) {
    throw new ConfigError(`schedule.end must be after schedule.begin, got begin ${out.begin}, end ${out.end}`);
  }
  return out;
}

/**
 * Checks a raw (parsed JSON / CLI) config, fills defaults, and — given the model — checks layer
 * names, N:M divisibility and that something (but not everything) is pruned.
 * Throws ConfigError naming the field, e.g. `sparsity must be in [0, 1), got 1.2`.
 * @example validatePruneConfig({ method: 'lamp', sparsity: 0.8 }, model)
 */
export function validatePruneConfig(raw: unknown, model?: tf.LayersModel): PruneConfig {
  if (!isObj(raw)) throw new ConfigError(`prune config must be an object, got ${JSON.stringify(raw)}`);
  const d = defaultPruneConfig();
  const cfg: PruneConfig = {
    method: oneOf(raw.method ?? d.method, 'method', PRUNE_METHODS),
    granularity: oneOf(raw.granularity ?? d.granularity, 'granularity', GRANULARITIES),
    sparsity: num(raw.sparsity ?? d.sparsity, 'sparsity', sparsityOk, 'in [0, 1)'),
    scope: oneOf(raw.scope ?? d.scope, 'scope', ['global', 'layer'] as const),
    norm: oneOf(raw.norm ?? d.norm, 'norm', ['l1', 'l2'] as const),
    schedule: validateSchedule(raw.schedule ?? d.schedule),
    finetune: d.finetune,
    taylorBatches: num(raw.taylorBatches ?? d.taylorBatches, 'taylorBatches', posInt, 'a positive integer'),
    seed: num(raw.seed ?? d.seed, 'seed', Number.isInteger, 'an integer'),
  };
  if (raw.perLayer !== undefined) {
    if (!isObj(raw.perLayer)) throw new ConfigError(`perLayer must be an object of layer name -> sparsity`);
    cfg.perLayer = {};
    for (const [k, v] of Object.entries(raw.perLayer)) cfg.perLayer[k] = num(v, `perLayer.${k}`, sparsityOk, 'in [0, 1)');
  }
  if (raw.ignore !== undefined) {
    if (!Array.isArray(raw.ignore) || raw.ignore.some((x) => typeof x !== 'string')) {
      throw new ConfigError(`ignore must be an array of layer names, got ${JSON.stringify(raw.ignore)}`);
    }
    cfg.ignore = [...(raw.ignore as string[])];
  }
  const nmRaw = raw.nm ?? d.nm;
  if (!isObj(nmRaw)) throw new ConfigError(`nm must be {n, m}, got ${JSON.stringify(nmRaw)}`);
  const m = num(nmRaw.m, 'nm.m', (x) => Number.isInteger(x) && x >= 2, 'an integer >= 2');
  const n = num(nmRaw.n, 'nm.n', (x) => Number.isInteger(x) && x >= 1 && x < m, `an integer in [1, ${m})`);
  cfg.nm = { n, m };
  if (raw.roundTo !== undefined) {
    cfg.roundTo = num(raw.roundTo, 'roundTo', posInt, 'a positive integer');
    if (cfg.granularity !== 'structured') throw new ConfigError(`roundTo rounds kept channel counts, so it needs granularity structured, got ${cfg.granularity}`);
  }

  const ft = raw.finetune ?? {};
  if (!isObj(ft)) throw new ConfigError(`finetune must be an object, got ${JSON.stringify(ft)}`);
  cfg.finetune = {
    epochs: num(ft.epochs ?? d.finetune.epochs, 'finetune.epochs', nonNegInt, 'a non-negative integer'),
    batchSize: num(ft.batchSize ?? d.finetune.batchSize, 'finetune.batchSize', posInt, 'a positive integer'),
    learningRate: num(ft.learningRate ?? d.finetune.learningRate, 'finetune.learningRate', (x) => x > 0, 'a positive number'),
    optimizer: oneOf(ft.optimizer ?? d.finetune.optimizer, 'finetune.optimizer', ['adam', 'sgd'] as const),
  };
  if (raw.task !== undefined) cfg.task = oneOf(raw.task, 'task', TASKS);
  if (cfg.task === 'regression') {
    cfg.finetune.task = 'regression';
    cfg.finetune.loss = oneOf(ft.loss ?? 'mse', 'finetune.loss', REGRESSION_LOSSES);
  } else if (ft.loss !== undefined) {
    // Without a task (checked before the model is known) any known loss passes; a classifier takes cross-entropy only.
    const loss = oneOf(ft.loss, 'finetune.loss', ['cross-entropy', ...REGRESSION_LOSSES] as const);
    if (cfg.task === 'classification' && loss !== 'cross-entropy') {
      throw new ConfigError(`finetune.loss ${JSON.stringify(loss)} is a regression loss; a classifier is fine-tuned with cross-entropy (or pass --task regression)`);
    }
  }
  if (ft.maxSamplesPerEpoch !== undefined) {
    cfg.finetune.maxSamplesPerEpoch = num(ft.maxSamplesPerEpoch, 'finetune.maxSamplesPerEpoch', posInt, 'a positive integer');
  }
  if (ft.distill !== undefined) {
    if (!isObj(ft.distill)) throw new ConfigError(`finetune.distill must be {temperature, alpha}`);
    cfg.finetune.distill = {
      temperature: num(ft.distill.temperature ?? 4, 'finetune.distill.temperature', (x) => x > 0, 'a positive number'),
      alpha: num(ft.distill.alpha ?? 0.5, 'finetune.distill.alpha', (x) => x >= 0 && x <= 1, 'in [0, 1]'),
    };
  }
  if (ft.earlyStopping !== undefined) {
    if (!isObj(ft.earlyStopping)) throw new ConfigError(`finetune.earlyStopping must be {patience, validationFraction}`);
    cfg.finetune.earlyStopping = {
      patience: num(ft.earlyStopping.patience ?? 2, 'finetune.earlyStopping.patience', posInt, 'a positive integer'),
      validationFraction: num(
        ft.earlyStopping.validationFraction ?? 0.1,
        'finetune.earlyStopping.validationFraction',
        (x) => x > 0 && x < 1,
        'in (0, 1)',
      ),
    };
  }
  if (cfg.schedule.kind === 'poly' && cfg.schedule.initialSparsity > cfg.sparsity && cfg.granularity !== 'nm') {
    throw new ConfigError(
      `schedule.initialSparsity (${cfg.schedule.initialSparsity}) must not exceed sparsity (${cfg.sparsity})`,
    );
  }
  if (cfg.granularity === 'structured' && cfg.schedule.kind === 'poly') {
    throw new ConfigError('schedule poly re-prunes every few steps; structured pruning rebuilds the model, use oneshot or iterative');
  }
  if (cfg.task === 'regression' && cfg.finetune.distill) {
    throw new ConfigError('finetune.distill matches softened class probabilities; it does not apply to a regression model');
  }
  if (cfg.method === 'bn-scale' && cfg.granularity !== 'structured') {
    throw new ConfigError(`method bn-scale scores whole channels; it needs granularity structured, got ${cfg.granularity}`);
  }
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
