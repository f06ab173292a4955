import { ConfigError } from '../../common/errors';
import { inferencePath } from '../../common/format';
import type { RegisterCommand } from '../context';
import { createProgress } from '../progress';
import { addDataPrepOptions, dataPrep } from '../data-options';

export function positiveInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n <= 0) throw new ConfigError(`${name} must be a positive integer, got "${value}"`);
    return n;
  };
}

/** `--task classification|regression`. */
export function taskOption(value: string): 'classification' | 'regression' {
  if (value !== 'classification' && value !== 'regression') throw new ConfigError(`--task must be classification or regression, got "${value}"`);
  return value;
}

export const registerEvaluateCommand: RegisterCommand = (program, ctx) => {
  const cmd = program
    .command('evaluate')
    .description('accuracy and loss on the test split, and latency at batch 1 and a chosen batch')
    .argument('<model>', 'demo, a tfjs model folder or model.json, or a Keras .h5/.keras file')
    .requiredOption('--data <data>', 'demo, fashion-mnist, idx:DIR, npz:FILE, images:DIR or csv:FILE')
    .option('--batch-size <n>', 'evaluation batch size', positiveInt('--batch-size'), 256)
    .option('--limit <n>', 'evaluate on at most n test samples', positiveInt('--limit'))
    .option('--latency-batch <n>', 'second batch size for latency', positiveInt('--latency-batch'), 64)
    .option('--latency-runs <n>', 'timed runs per latency measurement', positiveInt('--latency-runs'), 30)
    .option('--task <t>', 'classification | regression (default: read from the model\'s output layer)', taskOption);
  addDataPrepOptions(cmd)
    .action(async (modelSpec: string, opts) => {
      const { evaluateModel } = await import('../../app/evaluate-service');
      const bars = new Map<string, ReturnType<typeof createProgress>>();
      try {
        const r = await evaluateModel(
          { model: modelSpec, data: opts.data, batchSize: opts.batchSize, limit: opts.limit, latencyBatch: opts.latencyBatch, latencyRuns: opts.latencyRuns, task: opts.task, ...dataPrep(opts) },
          {
            onProgress: (p) => {
              let bar = bars.get(p.phase);
              if (!bar) bars.set(p.phase, (bar = createProgress(p.phase)));
              bar.update(p.done, p.total);
            },
          },
        );
        for (const bar of bars.values()) bar.stop();
        if (ctx.json) return ctx.printJson(r);
        ctx.print(formatEvaluation(r));
      } finally {
        for (const bar of bars.values()) bar.stop();
      }
    });
};

export function formatEvaluation(r: import('../../app/evaluate-service').EvaluateResult): string {
  const lines = [
    `model     ${r.model.source}`,
    r.task === 'regression'
      ? `data      ${r.data.source} (${r.samples} test samples, target ${r.data.targetNames?.join(', ') ?? '?'})`
      : `data      ${r.data.source} (${r.samples} test samples, ${r.data.classNames.length} classes)`,
    `backend   ${r.backend}`,
    ...(r.task === 'regression'
      ? [`MAE       ${r.mae?.toPrecision(4)}`, `RMSE      ${r.rmse?.toPrecision(4)}`, `R²        ${r.r2?.toFixed(4)}`, `loss      ${r.loss.toFixed(4)} (MSE)`]
      : [`accuracy  ${(100 * r.accuracy).toFixed(2)} %`, `loss      ${r.loss.toFixed(4)}`]),
    ...r.latency.map((l) => `latency   batch ${String(l.batchSize).padEnd(4)} median ${l.medianMs.toFixed(3)} ms  p90 ${l.p90Ms.toFixed(3)} ms`),
    `inference ${inferencePath({ final: { evaluate: r.path, latency: r.latency[0]?.path } })}`,
  ];
  return lines.join('\n');
}
