import type { RegisterCommand } from '../context';

export const registerInfoCommand: RegisterCommand = (program, ctx) => {
  program
    .command('info')
    .description('show the compute backend, versions and data folder')
    .action(async () => {
      const { getInfo } = await import('../../app/info-service');
      const info = await getInfo();
      if (ctx.json) return ctx.printJson(info);
      const b = info.backend;
      const lines = [
        `topiary   ${info.app.version}`,
        `node      ${info.node} (${info.platform})`,
        `tfjs      ${info.tfjs}`,
        `backend   ${b.name}  (${b.package}@${b.version}${b.threads ? `, ${b.threads} thread${b.threads > 1 ? 's' : ''}` : ''}${b.simd ? ', SIMD' : ''})`,
        ...b.skipped.map((s) => `          skipped ${s.name}: ${s.reason}`),
        ...(b.native
          ? [
              b.native.loaded
                ? `native    topiary-native (${b.native.isa}, ${b.native.threads} thread${b.native.threads === 1 ? '' : 's'}): matMul, conv2d, Adam and whole fine-tuning steps`
                : `native    not in use: ${b.native.reason}`,
            ]
          : []),
        `training  native graph step${info.training.nativeGraphStep.available ? '' : ' (not available here)'} for models of ${info.training.nativeGraphStep.layers.join(', ')}`,
        `          tfjs step for ${info.training.tfjsStep}`,
        ...(info.gpu ? [`GPU       ${info.gpu.detail}`] : []),
        ...(info.settings
          ? [
              `trains on ${info.settings.trainingLine}`,
              `settings  ${info.settings.file}${info.settings.problem ? '' : `  (GPU memory limit ${info.settings.settings.gpuMemoryLimitMiB} MiB)`}`,
              ...(info.settings.problem ? [`          problem: ${info.settings.problem}`] : []),
            ]
          : []),
        `data dir  ${info.dataDir}`,
        `database  ${info.database}`,
        `resources ${info.resources}`,
      ];
      ctx.print(lines.join('\n'));
    });
};
