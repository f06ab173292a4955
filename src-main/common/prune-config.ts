/**
 * The prune config: the one schema every check of it derives from. The contract validates what a
 * front door sends with `PruneConfigInputSchema` (every field checked when present, nothing filled
 * in, so a run stores what was asked); the engine runs `PruneConfigSchema` (the same fields, then
 * the defaults and the rules that tie fields together) and adds only the checks that need the
 * model; the CLI maps its flags onto `PruneConfigInput`, and the wizard lists
 * `pruneConfigProblems`. Messages name the field: `sparsity must be in [0, 1), got 1.2`.
 */
import { z } from 'zod';
import { ConfigError, describeIssues } from './errors';
import type { Task } from './contract/results';

export const PRUNE_METHODS = ['magnitude', 'taylor', 'movement', 'lamp', 'bn-scale', 'random'] as const;
export type PruneMethod = (typeof PRUNE_METHODS)[number];

export const GRANULARITIES = ['unstructured', 'nm', 'structured'] as const;
export type Granularity = (typeof GRANULARITIES)[number];

export const PRUNE_SCOPES = ['global', 'layer'] as const;
export type PruneScope = (typeof PRUNE_SCOPES)[number];

export const TASKS = ['classification', 'regression'] as const satisfies readonly Task[];

/** Regression losses: mean squared error (default) or mean absolute error. */
export const REGRESSION_LOSSES = ['mse', 'mae'] as const;
export type RegressionLoss = (typeof REGRESSION_LOSSES)[number];

/**
 * When to prune. Steps are optimizer steps (batches) of fine-tuning.
 * - oneshot: prune once to the final sparsity before fine-tuning.
 * - iterative: `rounds` prune + fine-tune rounds; `spacing` 'geometric' (default) removes the same
 *   fraction of the remaining weights each round, 'linear' the same fraction of all weights.
 * - poly: Zhu & Gupta 2017 cubic ramp from `initialSparsity` at step `begin` to the final sparsity
 *   at step `end`, re-pruning every `frequency` steps.
 */
export type ScheduleConfig =
  | { kind: 'oneshot' }
  | { kind: 'iterative'; rounds: number; spacing?: 'geometric' | 'linear' }
  | { kind: 'poly'; initialSparsity: number; begin?: number; end?: number; frequency?: number };

export interface DistillConfig {
  /** Softmax temperature T (> 0). */
  temperature: number;
  /** Weight of the distillation term in [0, 1]; 0 is plain cross-entropy. */
  alpha: number;
}

export interface EarlyStoppingConfig {
  /** Epochs without validation-loss improvement before stopping. */
  patience: number;
  /** Fraction of the training split held out (seeded) for validation, in (0, 1). */
  validationFraction: number;
}

/**
 * Quantization-aware fine-tuning (engine/finetune/qat.ts): after pruning and fine-tuning, `epochs`
 * more epochs with kernels and activations fake-quantized to the TF Lite int8 grid (straight-through
 * gradients) and the pruning masks frozen, so the int8 export loses less accuracy and keeps every zero.
 */
export interface QatConfig {
  epochs: number;
  /** Default: a tenth of finetune.learningRate (the weights only need to settle on the grid). */
  learningRate: number;
  /** Moving-average momentum of the activation ranges, in [0, 1). */
  momentum: number;
  /** 'per-channel' (as the TF Lite int8 export stores weights) or 'per-tensor'. */
  weights: 'per-channel' | 'per-tensor';
}

export interface FinetuneConfig {
  /** 0 disables fine-tuning (prune only). */
  epochs: number;
  batchSize: number;
  learningRate: number;
  optimizer: 'adam' | 'sgd';
  distill?: DistillConfig;
  earlyStopping?: EarlyStoppingConfig;
  /** Cap on training samples per epoch (keeps quick runs quick); all when absent. */
  maxSamplesPerEpoch?: number;
  /** What the model predicts; absent = classification (softmax cross-entropy). */
  task?: Task;
  /** Regression loss: 'mse' (default) or 'mae'. Ignored for classification. */
  loss?: RegressionLoss;
  /** Quantization-aware fine-tuning after pruning, masks frozen; absent = none. */
  qat?: QatConfig;
}

/** Defaults of `finetune.qat: true` (learningRate: a tenth of the fine-tuning rate). */
export const QAT_DEFAULTS = { epochs: 1, momentum: 0.99, weights: 'per-channel' } as const;

export interface PruneConfig {
  method: PruneMethod;
  granularity: Granularity;
  /** Target fraction removed, in [0, 1): of weights (unstructured) or of units/filters (structured). Ignored for N:M (1 - n/m). */
  sparsity: number;
  /** 'global': one threshold across all pruned layers; 'layer': each layer to its own ratio. */
  scope: PruneScope;
  /** Per-layer sparsity overrides by layer name (these layers are excluded from the global pool). */
  perLayer?: Record<string, number>;
  /** Layer names never pruned. */
  ignore?: string[];
  /** N:M pattern, default 2:4: keep n of every m consecutive weights along the input dimension. */
  nm?: { n: number; m: number };
  /** Structured: keep channel counts multiples of this. */
  roundTo?: number;
  /** Norm used to reduce element scores to channel (group) scores. */
  norm?: 'l1' | 'l2';
  schedule: ScheduleConfig;
  finetune: FinetuneConfig;
  /** Batches used by data-driven criteria (taylor, movement warm-up). */
  taylorBatches: number;
  seed: number;
  /** What the model predicts (the loss gradient criteria and fine-tuning use); absent = classification. */
  task?: Task;
}

/**
 * Sensible defaults: 50% global magnitude pruning, one-shot, two epochs of Adam fine-tuning.
 * @example const cfg = parsePruneConfig({ ...defaultPruneConfig(), sparsity: 0.9 })
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

// ---------------------------------------------------------------------------------------------
// Field rules. Each message is the part after the field's path; parsePruneConfig puts the path
// in front, so `perLayer.fc1 must be in [0, 1), got 1.5` names the exact key.

const got = (input: unknown) => `got ${JSON.stringify(input)}`;

/** A finite number passing `check`; `range` says what is allowed ("in [0, 1)"). */
function num(check: (x: number) => boolean, range: string) {
  const error = (iss: { input?: unknown }) => `must be ${range}, ${got(iss.input)}`;
  return z.number({ error }).refine((x) => Number.isFinite(x) && check(x), { error });
}

function oneOf<const T extends readonly [string, ...string[]]>(allowed: T) {
  return z.enum(allowed, { error: (iss) => `must be one of ${allowed.join(', ')}, ${got(iss.input)}` });
}

/** A plain object (not an array, not null), with `what` saying its expected shape. */
function obj<S extends z.ZodRawShape>(shape: S, what: string) {
  return z.object(shape, { error: (iss) => `must be ${what}, ${got(iss.input)}` });
}

const fraction = num((x) => x >= 0 && x < 1, 'in [0, 1)');
const posInt = num((x) => Number.isInteger(x) && x > 0, 'a positive integer');
const nonNegInt = num((x) => Number.isInteger(x) && x >= 0, 'a non-negative integer');
const positive = num((x) => x > 0, 'a positive number');

const ScheduleSchema = z.discriminatedUnion(
  'kind',
  [
    z.object({ kind: z.literal('oneshot') }),
    z.object({ kind: z.literal('iterative'), rounds: posInt, spacing: oneOf(['geometric', 'linear']).optional() }),
    z.object({
      kind: z.literal('poly'),
      initialSparsity: fraction.default(0),
      begin: nonNegInt.optional(),
      end: nonNegInt.optional(),
      frequency: posInt.optional(),
    }),
  ],
  {
    error: (iss) =>
      iss.code === 'invalid_union' ? `must be one of oneshot, iterative, poly, ${got((iss.input as { kind?: unknown })?.kind)}` : `must be an object, ${got(iss.input)}`,
  },
).refine((s) => s.kind !== 'poly' || s.begin === undefined || s.end === undefined || s.end > s.begin, {
  error: (iss) => {
    const s = iss.input as { begin: number; end: number };
    return `schedule.end must be after schedule.begin, got begin ${s.begin}, end ${s.end}`;
  },
  path: ['end'],
  // The message names both fields itself; parsePruneConfig does not prefix it.
  params: { whole: true },
});

const FinetuneInputSchema = obj(
  {
    epochs: nonNegInt.optional(),
    batchSize: posInt.optional(),
    learningRate: positive.optional(),
    optimizer: oneOf(['adam', 'sgd']).optional(),
    /** Checked with the task (lossProblems): which losses are allowed depends on it. */
    loss: z.string({ error: (iss) => `must be one of cross-entropy, ${REGRESSION_LOSSES.join(', ')}, ${got(iss.input)}` }).optional(),
    maxSamplesPerEpoch: posInt.optional(),
    distill: obj({ temperature: positive.default(4), alpha: num((x) => x >= 0 && x <= 1, 'in [0, 1]').default(0.5) }, '{temperature, alpha}').optional(),
    earlyStopping: obj(
      { patience: posInt.default(2), validationFraction: num((x) => x > 0 && x < 1, 'in (0, 1)').default(0.1) },
      '{patience, validationFraction}',
    ).optional(),
    qat: z
      .union(
        [
          z.boolean(),
          z.object({
            epochs: posInt.optional(),
            learningRate: positive.optional(),
            momentum: fraction.optional(),
            weights: oneOf(['per-channel', 'per-tensor']).optional(),
          }),
        ],
        { error: (iss) => `must be true, false or {epochs, learningRate, momentum, weights}, ${got(iss.input)}` },
      )
      .optional(),
  },
  'an object',
);

const NmSchema = obj({ n: z.unknown(), m: num((x) => Number.isInteger(x) && x >= 2, 'an integer >= 2') }, '{n, m}').superRefine((nm, ctx) => {
  const n = nm.n;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n >= nm.m) {
    ctx.addIssue({ code: 'custom', path: ['n'], message: `must be an integer in [1, ${nm.m}), ${got(n)}` });
  }
});

/**
 * What a front door may send as `RunConfig.prune`: every known field is checked when present and
 * nothing is filled in (the engine fills defaults with the run's own seed and task). Unknown keys
 * are kept, as the run stores the config it was given verbatim.
 */
export const PruneConfigInputSchema = z
  .object(
    {
      method: oneOf(PRUNE_METHODS).optional(),
      granularity: oneOf(GRANULARITIES).optional(),
      sparsity: fraction.optional(),
      scope: oneOf(PRUNE_SCOPES).optional(),
      norm: oneOf(['l1', 'l2']).optional(),
      schedule: ScheduleSchema.optional(),
      taylorBatches: posInt.optional(),
      seed: num(Number.isInteger, 'an integer').optional(),
      perLayer: z.record(z.string(), fraction, { error: (iss) => `must be an object of layer name -> sparsity, ${got(iss.input)}` }).optional(),
      ignore: z.array(z.string(), { error: (iss) => `must be an array of layer names, ${got(iss.input)}` }).optional(),
      nm: NmSchema.optional(),
      roundTo: posInt.optional(),
      finetune: FinetuneInputSchema.optional(),
      task: oneOf(TASKS).optional(),
    },
    { error: (iss) => `must be an object, ${got(iss.input)}` },
  )
  .loose()
  .superRefine((raw, ctx) => {
    const message = lossProblem(raw.task, raw.finetune?.loss);
    if (message) ctx.addIssue({ code: 'custom', message, params: { whole: true } });
  });
export type PruneConfigInput = z.input<typeof PruneConfigInputSchema>;

type CheckedInput = z.output<typeof PruneConfigInputSchema>;

/** Regression takes mse or mae (default mse); a classifier cross-entropy; without a task any known loss. */
function lossProblem(task: unknown, loss: string | undefined): string | undefined {
  if (loss === undefined) return undefined;
  const allowed: readonly string[] = task === 'regression' ? REGRESSION_LOSSES : ['cross-entropy', ...REGRESSION_LOSSES];
  if (!allowed.includes(loss)) return `finetune.loss must be one of ${allowed.join(', ')}, ${got(loss)}`;
  if (task === 'classification' && loss !== 'cross-entropy') {
    return `finetune.loss ${JSON.stringify(loss)} is a regression loss; a classifier is fine-tuned with cross-entropy (or pass --task regression)`;
  }
  return undefined;
}

/** The checked input with every default filled in, in the engine's shape. */
function withDefaults(raw: CheckedInput): PruneConfig {
  const d = defaultPruneConfig();
  const ft = raw.finetune ?? {};
  const cfg: PruneConfig = {
    method: raw.method ?? d.method,
    granularity: raw.granularity ?? d.granularity,
    sparsity: raw.sparsity ?? d.sparsity,
    scope: raw.scope ?? d.scope,
    norm: raw.norm ?? d.norm,
    schedule: raw.schedule ?? d.schedule,
    finetune: {
      epochs: ft.epochs ?? d.finetune.epochs,
      batchSize: ft.batchSize ?? d.finetune.batchSize,
      learningRate: ft.learningRate ?? d.finetune.learningRate,
      optimizer: ft.optimizer ?? d.finetune.optimizer,
    },
    taylorBatches: raw.taylorBatches ?? d.taylorBatches,
    seed: raw.seed ?? d.seed,
  };
  if (raw.perLayer !== undefined) cfg.perLayer = { ...raw.perLayer };
  if (raw.ignore !== undefined) cfg.ignore = [...raw.ignore];
  cfg.nm = raw.nm ? { n: raw.nm.n as number, m: raw.nm.m } : d.nm;
  if (raw.roundTo !== undefined) cfg.roundTo = raw.roundTo;
  if (raw.task !== undefined) cfg.task = raw.task;
  if (cfg.task === 'regression') {
    cfg.finetune.task = 'regression';
    cfg.finetune.loss = (ft.loss ?? 'mse') as RegressionLoss;
  }
  if (ft.maxSamplesPerEpoch !== undefined) cfg.finetune.maxSamplesPerEpoch = ft.maxSamplesPerEpoch;
  if (ft.distill !== undefined) cfg.finetune.distill = ft.distill;
  if (ft.earlyStopping !== undefined) cfg.finetune.earlyStopping = ft.earlyStopping;
  if (ft.qat) {
    const q = ft.qat === true ? {} : ft.qat;
    cfg.finetune.qat = {
      epochs: q.epochs ?? QAT_DEFAULTS.epochs,
      learningRate: q.learningRate ?? cfg.finetune.learningRate / 10,
      momentum: q.momentum ?? QAT_DEFAULTS.momentum,
      weights: q.weights ?? QAT_DEFAULTS.weights,
    };
  }
  return cfg;
}

/** The rules that tie fields together; each message names the fields involved. */
function crossFieldProblems(cfg: PruneConfig): string[] {
  const problems: string[] = [];
  if (cfg.schedule.kind === 'poly' && cfg.schedule.initialSparsity > cfg.sparsity && cfg.granularity !== 'nm') {
    problems.push(`schedule.initialSparsity (${cfg.schedule.initialSparsity}) must not exceed sparsity (${cfg.sparsity})`);
  }
  if (cfg.granularity === 'structured' && cfg.schedule.kind === 'poly') {
    problems.push('schedule poly re-prunes every few steps; structured pruning rebuilds the model, use oneshot or iterative');
  }
  if (cfg.task === 'regression' && cfg.finetune.distill) {
    problems.push('finetune.distill matches softened class probabilities; it does not apply to a regression model');
  }
  if (cfg.roundTo !== undefined && cfg.granularity !== 'structured') {
    problems.push(`roundTo rounds kept channel counts, so it needs granularity structured, got ${cfg.granularity}`);
  }
  if (cfg.method === 'bn-scale' && cfg.granularity !== 'structured') {
    problems.push(`method bn-scale scores whole channels; it needs granularity structured, got ${cfg.granularity}`);
  }
  return problems;
}

/**
 * The config the engine runs: `PruneConfigInputSchema`, then defaults, then the cross-field rules.
 * Its issues carry complete messages (use parsePruneConfig or pruneConfigProblems to read them).
 */
export const PruneConfigSchema = PruneConfigInputSchema.transform((raw, ctx): PruneConfig => {
  const cfg = withDefaults(raw);
  for (const message of crossFieldProblems(cfg)) ctx.addIssue({ code: 'custom', message, params: { whole: true } });
  return cfg;
});

/**
 * Every problem of a prune config, as messages naming the field; empty when it is valid. The
 * wizard shows these; the same rules refuse the run anywhere else.
 * @example pruneConfigProblems({ sparsity: 1.2 }) // ['sparsity must be in [0, 1), got 1.2']
 */
export function pruneConfigProblems(raw: unknown): string[] {
  const r = PruneConfigSchema.safeParse(raw);
  return r.success ? [] : r.error.issues.map((i) => describeIssues([i], 'prune config'));
}

/**
 * Checks a raw (parsed JSON / CLI) config and fills defaults; throws ConfigError naming the field,
 * e.g. `sparsity must be in [0, 1), got 1.2` (several problems are joined with `; `).
 * @example parsePruneConfig({ method: 'lamp', sparsity: 0.8 }).scope // 'global'
 */
export function parsePruneConfig(raw: unknown): PruneConfig {
  const r = PruneConfigSchema.safeParse(raw);
  if (!r.success) throw new ConfigError(describeIssues(r.error.issues, 'prune config'));
  return r.data;
}
