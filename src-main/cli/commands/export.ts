import fs from 'node:fs';
import { ConfigError } from '../../common/errors';
import { ExportRequestSchema } from '../../common/run-config';
import type { RegisterCommand } from '../context';
import { bytes } from '../format';
import { createProgress } from '../progress';
import { addDataPrepOptions, dataPrep } from '../data-options';
import { taskOption } from './evaluate';

const num = (x: unknown): string => (typeof x === 'number' ? x.toPrecision(4) : '-');

export const registerExportCommand: RegisterCommand = (program, ctx) => {
  const cmd = program
    .command('export')
    .description('export a model (or a recorded run) to TF Lite or tfjs and verify it with an independent runtime')
    .argument('<model-or-run>', 'a run id (or its first characters), demo, a tfjs model folder, or a Keras file')
    .requiredOption('--format <f>', 'tflite | tfjs')
    .option('--quant <q>', 'tflite: none|float16|dynamic-int8|int8; tfjs: none|float16|uint8|uint16', 'none')
    .option('--calib <data>', 'dataset for int8 calibration and for verification (demo, fashion-mnist, idx:DIR, ...)')
    .option('--samples <n>', 'test samples used for verification', (v) => Number(v), 1000)
    .option('--sparse <mode>', 'tflite weights stored CSR + DENSIFY: auto (float32 when smaller) | never | always (int8 too, when smaller)')
    .option('--out <dir>', 'bundle folder to write (refused if it exists and is not empty, unless --overwrite)')
    .option('--overwrite', 'replace an earlier export folder (only the files its .topiary-export.json lists; anything else there is refused)')
    .option('--task <t>', 'classification | regression (default: read from the model\'s output layer)', taskOption);
  addDataPrepOptions(cmd)
    .action(async (target: string, o) => {
      const parsed = ExportRequestSchema.safeParse({ format: o.format, quant: o.quant, verifySamples: o.samples, ...(o.sparse ? { sparse: o.sparse } : {}) });
      if (!parsed.success) throw new ConfigError(parsed.error.issues.map((i) => `--${i.path.join('.')}: ${i.message}`).join('; '));
      const req = parsed.data;
      // A destination that would be refused is refused now, before the model is loaded and exported.
      if (o.out) {
        const { checkExportTarget } = await import('../../node/export/bundle');
        await checkExportTarget(o.out, { overwrite: o.overwrite });
      }
      const bar = createProgress('verify');
      const { openAppServices } = await import('../../app/services');
      const services = await openAppServices({ dbPath: ctx.dbPath(), mode: 'in-process' });
      try {
        let result: { dir: string; artifact: import('../../common/contract').ArtifactInput };
        const runId = findRun(services, target);
        if (runId) {
          const { exportStoredRun } = await import('../../app/export-service');
          result = await exportStoredRun(services, { ...req, runId, outDir: o.out, overwrite: o.overwrite, task: o.task });
        } else {
          if (!o.out) throw new ConfigError('--out <dir> is required when exporting a model file (runs export into their own folder)');
          const { exportModel } = await import('../../app/export-service');
          const { defaultTask, openModel } = await import('../../app/model-service');
          const { loadDatasetForModel } = await import('../../app/model-data');
          const loaded = await openModel(target);
          try {
            const task = o.task ?? defaultTask(loaded.model);
            const dataset = o.calib ? (await loadDatasetForModel(loaded.model, o.calib, { task, ...dataPrep(o) })).dataset : undefined;
            const out = await exportModel(loaded.model, req, {
              outDir: o.out,
              dataset,
              source: loaded.source,
              overwrite: o.overwrite,
              task,
              onVerify: (d, t) => bar.update(d, t),
              onQuantize: (d, t) => bar.update(d, t, '(uint8: measuring which kernels need uint16)'),
            });
            result = out;
          } finally {
            loaded.model.dispose();
          }
        }
        bar.stop();
        const a = result.artifact;
        if (ctx.json) ctx.printJson(result);
        else {
          const v = (a.verification ?? {}) as Record<string, number | null | string>;
          ctx.print(`wrote ${result.dir}`);
          ctx.print(`  ${a.format} ${a.quant}: ${bytes(a.bytes)}, sha256 ${a.sha256.slice(0, 16)}`);
          ctx.print(`  verification (${v.runtime}): ${a.status}${a.reason ? ` — ${a.reason}` : ''}`);
          if (v.task === 'regression') {
            ctx.print(`  max |diff| ${num(v.maxAbsDiff)}, mean |diff| ${num(v.meanAbsDiff)}, MAE ${num(v.mae)} (in-app ${num(v.referenceMae)}), latency ${typeof v.latencyMs === 'number' ? v.latencyMs.toFixed(3) + ' ms' : '-'}`);
            ctx.print(`  rule: ${v.rule ?? '-'}`);
          } else ctx.print(
            `  max |diff| ${typeof v.maxAbsDiff === 'number' ? v.maxAbsDiff.toExponential(2) : '-'}, top-1 agreement ${typeof v.top1Agreement === 'number' ? (100 * v.top1Agreement).toFixed(2) : '-'} %` +
              `, accuracy ${typeof v.accuracy === 'number' ? (100 * v.accuracy).toFixed(2) + ' %' : '- (no labels)'}, latency ${typeof v.latencyMs === 'number' ? v.latencyMs.toFixed(3) + ' ms' : '-'}`,
          );
        }
        if (a.status === 'failed') process.exitCode = 1;
      } finally {
        bar.stop();
        await services.close();
      }
    });
};

/** A recorded run id (or unique prefix) wins over a model path only when no such path exists. */
function findRun(services: import('../../app/services').AppServices, target: string): string | undefined {
  if (target === 'demo' || fs.existsSync(target)) return undefined;
  const id = target.startsWith('run:') ? target.slice(4) : target;
  try {
    return services.history.resolve(id);
  } catch {
    return undefined;
  }
}
