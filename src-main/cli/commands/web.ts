import fs from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../../common/errors';
import type { RegisterCommand } from '../context';

export const registerWebCommand: RegisterCommand = (program, ctx) => {
  program
    .command('web')
    .description('serve the app in a browser (web mode) on 127.0.0.1, with a per-start access token')
    .option('--port <n>', 'port (default: a free one)', (v) => Number(v), 0)
    .option('--no-build', 'do not build the UI first (use dist-renderer as it is)')
    .action(async (o) => {
      const { appRoot, topiaryHome } = await import('../../app/paths');
      const staticDir = path.join(appRoot(), 'dist-renderer');
      if (o.build) {
        const { build } = await import('vite');
        await build({ configFile: path.join(appRoot(), 'vite.config.ts'), logLevel: 'warn' });
      }
      if (!fs.existsSync(path.join(staticDir, 'index.html'))) throw new ConfigError(`the UI is not built (${staticDir}); run without --no-build`);
      const { createApi } = await import('../../app/api');
      const { startWebServer } = await import('../../web/server');
      const { GpuPeers } = await import('../../app/gpu-peers');
      const { SettingsService } = await import('../../app/settings-service');
      const { settingsGpuRoutes } = await import('../../app/gpu-routes');
      // GPU windows (the app page opens one; gpu.html on its own registers too) train runs here.
      const gpuPeers = new GpuPeers();
      const api = await createApi({ home: topiaryHome(), dbPath: ctx.dbPath(), gpuPeers });
      const gpu = settingsGpuRoutes(gpuPeers, new SettingsService(topiaryHome()));
      const server = await startWebServer({ staticDir, invoke: api.invoke, subscribe: api.subscribe, port: o.port, gpu });
      // The GPU engine page: which of WebGPU/WebGL this browser can train on, self-tested against the CPU.
      const gpuPage = `http://127.0.0.1:${server.port}/gpu.html`;
      if (ctx.json) ctx.printJson({ url: server.url, port: server.port, gpuPage });
      else ctx.print(`Topiary web mode: open ${server.url}\nGPU check for this browser: ${gpuPage}\n(Ctrl+C to stop)`);
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await server.close();
      await api.close();
      gpuPeers.close();
    });
};
