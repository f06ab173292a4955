import type { RegisterCommand } from '../context';

export const registerAnalyzeCommand: RegisterCommand = (program, ctx) => {
  program
    .command('analyze')
    .description('per-layer table: params, non-zeros, MACs, activations')
    .argument('<model>', 'demo, a tfjs model folder or model.json, or a Keras .h5/.keras file')
    .action(async (modelSpec: string) => {
      const { describeModel, formatAnalysisTable } = await import('../../app/model-service');
      const d = await describeModel(modelSpec);
      if (ctx.json) return ctx.printJson(d);
      ctx.print(`model   ${d.source} (${d.format}, sha256 ${d.sha256.slice(0, 12)})`);
      ctx.print(`input   [${d.inputShape.join(', ')}]  output [${d.outputShape.join(', ')}]`);
      for (const w of d.warnings ?? []) ctx.print(`note    ${w}`);
      ctx.print('');
      ctx.print(formatAnalysisTable(d.analysis));
    });
};
