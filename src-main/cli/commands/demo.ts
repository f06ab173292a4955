import type { RunConfigInput } from '../../common/run-config';
import type { RegisterCommand } from '../context';

/**
 * The demo's defaults: 80% global magnitude pruning of the built-in LeNet-5, two epochs of
 * fine-tuning on the shipped Fashion-MNIST subset, then TF Lite (float32 and full int8) and tfjs
 * (uint8) exports, each verified by an independent runtime.
 */
export function demoRunConfig(): RunConfigInput {
  return {
    model: 'demo',
    data: 'demo',
    name: 'demo: LeNet-5, 80% magnitude',
    prune: {
      method: 'magnitude',
      granularity: 'unstructured',
      sparsity: 0.8,
      scope: 'global',
      schedule: { kind: 'oneshot' },
      finetune: { epochs: 2, batchSize: 64, learningRate: 5e-4, optimizer: 'adam' },
    },
    exports: [
      { format: 'tflite', quant: 'none' },
      { format: 'tflite', quant: 'int8' },
      { format: 'tfjs', quant: 'uint8' },
    ],
  };
}

export const registerDemoCommand: RegisterCommand = (program, ctx) => {
  program
    .command('demo')
    .description('the whole job on the built-in demo: analyze, prune, fine-tune, export, verify, record')
    .action(async () => {
      const { describeModel, formatAnalysisTable } = await import('../../app/model-service');
      const { getInfo } = await import('../../app/info-service');
      const { runAndReport } = await import('../run-report');
      const info = await getInfo();
      ctx.print(`Topiary ${info.app.version} demo  (backend ${info.backend.name}, tfjs ${info.tfjs})\n`);
      const model = await describeModel('demo');
      ctx.print('== The built-in model: LeNet-5 trained on Fashion-MNIST ==');
      ctx.print(formatAnalysisTable(model.analysis));
      ctx.print('\n== Pruning: 80% global magnitude, 2 epochs of fine-tuning on the demo subset ==');
      await runAndReport(ctx, demoRunConfig(), { title: 'Demo run' });
    });
};
