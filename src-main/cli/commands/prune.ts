import { ConfigError } from '../../common/errors';
import type { RunConfigInput } from '../../common/run-config';
import { GRANULARITIES, PRUNE_METHODS, PRUNE_SCOPES, REGRESSION_LOSSES, type PruneConfigInput } from '../../common/prune-config';
import type { RegisterCommand } from '../context';
import { positiveInt, taskOption } from './evaluate';
import { addDataPrepOptions, dataPrep } from '../data-options';

/** `iterative:3` -> {kind: 'iterative', rounds: 3}; `poly` or `poly:0.2` -> poly from 0 (or 0.2). */
export function parseSchedule(text: string): NonNullable<PruneConfigInput['schedule']> {
  const [kind, arg] = text.split(':');
  if (kind === 'oneshot' && arg === undefined) return { kind };
  if (kind === 'iterative') {
    const rounds = Number(arg ?? 3);
    if (!Number.isInteger(rounds) || rounds <= 0) throw new ConfigError(`--schedule iterative:K needs a positive integer K, got "${text}"`);
    return { kind, rounds };
  }
  if (kind === 'poly') return { kind, initialSparsity: arg === undefined ? 0 : Number(arg) };
  throw new ConfigError(`--schedule must be oneshot, iterative:K or poly, got "${text}"`);
}

/** `tflite:int8,tfjs:uint8` -> export requests; `tflite:int8:dense` / `:sparse` set the weights' storage (sparse never / always). */
export function parseExports(text: string): { format: 'tflite' | 'tfjs'; quant: string; sparse?: 'never' | 'always' }[] {
  return text
    .split(',')
    .filter(Boolean)
    .map((part) => {
      const [format, quant = 'none', storage, ...rest] = part.split(':');
      if (format !== 'tflite' && format !== 'tfjs') throw new ConfigError(`--export items are tflite[:quant] or tfjs[:quant], got "${part}"`);
      if (rest.length || (storage !== undefined && (format !== 'tflite' || !['dense', 'sparse'].includes(storage)))) {
        throw new ConfigError(`--export storage is tflite:<quant>:dense or tflite:<quant>:sparse, got "${part}"`);
      }
      return { format, quant, ...(storage ? { sparse: storage === 'dense' ? ('never' as const) : ('always' as const) } : {}) };
    });
}

function sparsityValue(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new ConfigError(`--sparsity must be a number in [0, 1), got "${v}"`);
  return n;
}

export const registerPruneCommand: RegisterCommand = (program, ctx) => {
  const cmd = program
    .command('prune')
    .description('prune a model, fine-tune it, measure before/after, and record the run')
    .argument('<model>', 'demo, a tfjs model folder or model.json, a Keras .h5/.keras file, or run:<id> (derive)')
    .requiredOption('--data <data>', 'demo, fashion-mnist, idx:DIR, npz:FILE, images:DIR or csv:FILE')
    .option('--method <m>', PRUNE_METHODS.join(' | '), 'magnitude')
    .option('--granularity <g>', GRANULARITIES.join(' | '), 'unstructured')
    .option('--sparsity <s>', 'fraction removed, in [0, 1): of weights, or of units/filters when structured', sparsityValue, 0.5)
    .option('--scope <s>', PRUNE_SCOPES.join(' | '), 'global')
    .option('--schedule <s>', 'oneshot | iterative:K | poly', 'oneshot')
    .option('--epochs <n>', 'fine-tuning epochs (0 = none)', (v) => (v === '0' ? 0 : positiveInt('--epochs')(v)), 2)
    .option('--batch-size <n>', 'fine-tuning batch size', positiveInt('--batch-size'), 64)
    .option('--lr <x>', 'fine-tuning learning rate', Number, 1e-3)
    .option('--task <t>', 'classification | regression (default: read from the model\'s output layer)', taskOption)
    .option('--loss <l>', `regression fine-tuning loss: ${REGRESSION_LOSSES.join(' | ')}`, 'mse')
    .option('--nm <n:m>', 'N:M pattern for --granularity nm', '2:4')
    .option('--round-to <n>', 'structured: keep channel counts multiples of n (default with --profile: its channelMultiple)', positiveInt('--round-to'))
    .option('--ignore <layers>', 'comma-separated layer names never pruned')
    .option('--distill <T,alpha>', 'knowledge distillation from the unpruned model, e.g. 4,0.5')
    .option('--qat [epochs]', 'quantization-aware fine-tuning after pruning: fake int8, masks frozen (default 1 epoch)')
    .option('--max-samples <n>', 'cap training samples per epoch', positiveInt('--max-samples'))
    .option('--no-sensitivity', 'skip the per-layer sensitivity scan of the original model')
    .option('--eval-limit <n>', 'test samples used for before/after accuracy', positiveInt('--eval-limit'))
    .option('--export <list>', 'exports to make and verify, e.g. tflite:int8,tfjs:uint8 (tflite:int8:sparse stores int8 Dense weights sparse: smaller, ~3x slower in LiteRT; :dense keeps any weights dense)')
    .option('--profile <id>', 'device profile the run targets')
    .option('--name <name>', 'a name for the run')
    .option('--seed <n>', 'random seed', (v) => Number.parseInt(v, 10), 42)
    .option('--out <dir>', 'also copy the pruned model (and exports) to this folder');
  addDataPrepOptions(cmd)
    .action(async (modelSpec: string, o) => {
      const [n, m] = String(o.nm).split(':').map(Number);
      // Flags map onto the shared prune config; its schema checks them when the run is started.
      const prune: PruneConfigInput = {
        method: o.method,
        granularity: o.granularity,
        sparsity: o.sparsity,
        scope: o.scope,
        schedule: parseSchedule(o.schedule),
        nm: { n, m },
        finetune: {
          epochs: o.epochs,
          batchSize: o.batchSize,
          learningRate: o.lr,
          ...(o.task === 'regression' || o.loss !== 'mse' ? { loss: o.loss } : {}),
          ...(o.maxSamples ? { maxSamplesPerEpoch: o.maxSamples } : {}),
          ...(o.qat ? { qat: o.qat === true ? true : { epochs: positiveInt('--qat')(String(o.qat)) } } : {}),
          ...(o.distill ? { distill: { temperature: Number(o.distill.split(',')[0]), alpha: Number(o.distill.split(',')[1] ?? 0.5) } } : {}),
        },
      };
      if (o.roundTo) prune.roundTo = o.roundTo;
      if (o.ignore) prune.ignore = String(o.ignore).split(',').filter(Boolean);
      const config: RunConfigInput = {
        model: modelSpec,
        data: o.data,
        prune,
        seed: o.seed,
        ...dataPrep(o),
        sensitivity: o.sensitivity,
        ...(o.task ? { task: o.task } : {}),
        ...(o.evalLimit ? { evalLimit: o.evalLimit } : {}),
        ...(o.export ? { exports: parseExports(o.export) as RunConfigInput['exports'] } : {}),
        ...(o.profile ? { profile: o.profile } : {}),
        ...(o.name ? { name: o.name } : {}),
      };
      const { runAndReport } = await import('../run-report');
      await runAndReport(ctx, config, { out: o.out });
    });
};
