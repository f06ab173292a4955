import { ConfigError } from '../../common/errors';
import type { FitReport } from '../../common/profiles';
import type { CliContext, RegisterCommand } from '../context';
import { bytes, table } from '../format';
import { addDataPrepOptions, dataPrep } from '../data-options';
import { taskOption } from './evaluate';

function valueText(unit: string, v: number | null): string {
  if (v === null) return '-';
  if (unit === 'bytes') return bytes(v);
  if (unit === 'ms') return `${v >= 0.1 ? v.toFixed(2) : v.toPrecision(2)} ms`;
  return String(v);
}

/** The per-constraint table every fit output shares. */
export function fitTable(r: FitReport): string {
  return table(
    ['constraint', 'result', 'needs', 'budget', 'margin', 'detail'],
    r.constraints.map((c) => [
      c.constraint + (c.estimate ? ' (est.)' : ''),
      c.passed ? 'pass' : 'FAIL',
      c.unit === 'type' ? r.numericType : valueText(c.unit, c.value),
      c.unit === 'type' ? '-' : valueText(c.unit, c.budget),
      c.marginFraction === null ? '-' : `${(100 * c.marginFraction).toFixed(1)} %`,
      c.detail,
    ]),
  );
}

function printReport(ctx: CliContext, r: FitReport, title: string): void {
  ctx.print(`${title}: ${r.fits ? 'FITS' : 'does NOT fit'} ${r.profileName} (${r.profileId}) as ${r.format} ${r.numericType}\n`);
  ctx.print(fitTable(r));
  if (r.unsupportedOps.length) {
    ctx.print('\nUnsupported ops by layer:');
    ctx.print(table(['layer', 'class', 'ops', 'reason'], r.unsupportedOps.map((u) => [u.layer, u.className, u.ops.join(', ') || '-', u.reason])));
  }
  ctx.print(
    `\nlatency: ${valueText('ms', r.latency.estimateMs)} on the device (estimate from ${r.macs} MACs)` +
      (r.latency.hostMs !== null ? `; ${r.latency.hostMs.toFixed(3)} ms measured on this host (${r.latency.hostRuntime})` : ''),
  );
  for (const n of r.notes) ctx.print(`note: ${n}`);
}

function levelsValue(v: string): number[] {
  const levels = v.split(',').map(Number);
  if (levels.length === 0 || levels.some((x) => !(x >= 0 && x < 1))) throw new ConfigError(`--levels must be comma-separated fractions in [0, 1), got "${v}"`);
  return levels;
}

function intValue(flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new ConfigError(`${flag} must be a non-negative integer, got "${v}"`);
    return n;
  };
}

export const registerFitCommand: RegisterCommand = (program, ctx) => {
  const cmd = program
    .command('fit')
    .description('check a model against a device profile; with --auto, prune + quantize + fine-tune until it fits')
    .argument('<model>', 'demo, a tfjs model folder or model.json, or a Keras .h5/.keras file')
    .requiredOption('--profile <id>', 'device profile id (see `topiary profiles list`)')
    .option('--auto', 'search pruning ratios and numeric type that meet every budget, then fine-tune and export (a recorded run)')
    .option('--data <data>', 'dataset: calibration and latency inputs; required with --auto')
    .option('--type <t>', 'numeric type to check: float32 | float16 | dynamic-int8 | int8 (default: the profile\'s preferred)')
    .option('--epochs <n>', '--auto: fine-tuning epochs', intValue('--epochs'), 2)
    .option('--max-samples <n>', '--auto: cap training samples per epoch', intValue('--max-samples'))
    .option('--eval-limit <n>', '--auto: validation samples per candidate', intValue('--eval-limit'), 512)
    .option('--levels <list>', '--auto: pruning levels tried, e.g. 0.1,0.2,0.4', levelsValue)
    .option('--latency-runs <n>', 'timed host runs of the exported file (0 = skip)', intValue('--latency-runs'), 20)
    .option('--task <t>', '--auto: classification | regression (default: read from the model\'s output layer)', taskOption);
  addDataPrepOptions(cmd)
    .action(async (modelSpec: string, o) => {
      const { openAppServices } = await import('../../app/services');
      const { ProfileService } = await import('../../app/profile-service');
      const { checkModelFit, fitToBudget } = await import('../../app/fit-service');
      const services = await openAppServices({ dbPath: ctx.dbPath(), mode: 'in-process' });
      try {
        const profiles = new ProfileService(services.store);
        if (!o.auto) {
          const r = await checkModelFit(profiles, { model: modelSpec, profile: o.profile, data: o.data, numericType: o.type, latencyRuns: o.latencyRuns, ...dataPrep(o) });
          if (ctx.json) ctx.printJson(r);
          else printReport(ctx, r, modelSpec);
          if (!r.fits) process.exitCode = 1;
          return;
        }
        if (!o.data) throw new ConfigError('fit --auto needs --data <data>: candidates are ranked, calibrated and fine-tuned on it');
        const abort = new AbortController();
        const onSigint = () => abort.abort();
        // A regressor's candidates carry R² in `accuracy` (engine/fit/search.ts).
        const r2 = o.task === 'regression';
        process.once('SIGINT', onSigint);
        const r = await fitToBudget(
          services,
          profiles,
          { model: modelSpec, data: o.data, profile: o.profile, epochs: o.epochs, maxSamplesPerEpoch: o.maxSamples, evalLimit: o.evalLimit, levels: o.levels, ...(o.task ? { task: o.task } : {}), ...dataPrep(o) },
          {
            signal: abort.signal,
            onLog: (m) => process.stderr.write(`${m}\n`),
            onCandidate: (c) =>
              process.stderr.write(
                `candidate ${c.index}: ${c.numericType} ${c.allocation} ${(100 * c.level).toFixed(0)}% -> ${c.fits ? 'fits' : `fails ${c.failed.join(', ')}`}` +
                  `${c.sizeBytes !== null ? `, ${bytes(c.sizeBytes)}` : ''}${c.arenaBytes !== null ? `, arena ${bytes(c.arenaBytes)}` : ''}` +
                  `${c.accuracy !== null ? (r2 ? `, one-shot R² ${c.accuracy.toFixed(3)}` : `, one-shot accuracy ${(100 * c.accuracy).toFixed(1)} %`) : ''}\n`,
              ),
          },
        );
        process.off('SIGINT', onSigint);
        if (!r.final?.fits) process.exitCode = 1;
        if (ctx.json) return ctx.printJson(r);
        if (!r.feasible) {
          ctx.print(`cannot fit ${r.profileId}: ${r.reason}`);
          return;
        }
        ctx.print(`binding constraints: ${r.binding.map((b) => `${b.constraint} (${b.detail})`).join('; ')}`);
        ctx.print(
          table(
            ['#', 'type', 'allocation', 'level', 'size', 'arena', 'latency est.', 'one-shot acc.', 'result'],
            r.candidates.map((c) => [
              c.index,
              c.numericType,
              c.allocation,
              `${(100 * c.level).toFixed(0)} %`,
              c.sizeBytes === null ? '-' : bytes(c.sizeBytes),
              c.arenaBytes === null ? '-' : bytes(c.arenaBytes),
              `${c.latencyEstimateMs.toFixed(1)} ms`,
              c.accuracy === null ? '-' : `${(100 * c.accuracy).toFixed(1)} %`,
              (c.fits ? 'fits' : `fails ${c.failed.join(', ')}`) + (c === r.best || c.index === r.best?.index ? '  <- chosen' : ''),
            ]),
          ),
        );
        if (r.runStatus !== 'done') {
          ctx.print(`\nrun ${r.runId} ${r.runStatus}`);
          process.exitCode = 1;
          return;
        }
        if (r.accuracy.before !== null && r.accuracy.after !== null) {
          ctx.print(`\naccuracy ${(100 * r.accuracy.before).toFixed(2)} % -> ${(100 * r.accuracy.after).toFixed(2)} % after fine-tuning`);
        }
        if (r.final) printReport(ctx, r.final, `\nexported ${r.artifact?.path ?? ''}`);
        ctx.print(`\nrecorded as run ${r.runId} (tag fit-to-budget) in ${ctx.dbPath()}`);
      } finally {
        await services.close();
      }
    });
};
