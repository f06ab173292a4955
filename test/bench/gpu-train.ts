/**
 * The GPU row: LeNet-5 training samples/s (the engine's loop, Adam, batch 64) on the GPU window's
 * backend (WebGPU, else WebGL) against the CPU path the CLI uses (Node, first backend that loads:
 * wasm + the native addon here), and against tfjs's cpu backend in the same browser page, all
 * measured in this run. Chromium gets the flags for a real GPU; when it finds none, or only a
 * software rasterizer, the row is skipped with the reason. `--software` measures on SwiftShader
 * anyway (labelled so: it shows the row works, it is not a GPU figure).
 *
 * Run: npx tsx test/bench/gpu-train.ts [--software] [--steps 8], or npm run bench -- gpu-train.
 */
import { initBackend } from '../../src-main/node/backend';
import { trainSpeed, type TrainSpeed } from '../../src-main/gpu/speed';
import { CHROMIUM, HARDWARE_GPU, hasChromium, openGpuPage, serveGpuPage, SOFTWARE_GPU } from '../support/gpu-page';

const args = process.argv.slice(2);
const software = args.includes('--software');
const steps = Number(args[args.indexOf('--steps') + 1] ?? 8) || 8;

const row = (label: string, s: TrainSpeed) => `  ${label.padEnd(28)} ${s.samplesPerS.toFixed(1).padStart(8)} samples/s  (${s.backend}, ${s.path}, ${s.steps} steps)`;

async function main(): Promise<void> {
  if (!hasChromium()) {
    console.log(`GPU row: skipped (no Chromium at ${CHROMIUM}; the GPU engine runs in a browser window)`);
    return;
  }
  const pages = await serveGpuPage();
  try {
    const browser = await pages.launch(software ? SOFTWARE_GPU : HARDWARE_GPU);
    const { page, info } = await openGpuPage(browser, pages.base, 'auto');
    if (!info.backend || (info.software && !software)) {
      const why = info.backend ? `only ${info.adapter} (software rendering, not a GPU); --software measures it anyway` : info.skipped.map((s) => `${s.name}: ${s.reason}`).join('; ');
      console.log(`GPU row: skipped (${why})`);
      return;
    }
    const gpuBackend = info.backend;
    const gpu = await page.evaluate(([b, n]) => window.topiaryGpu!.trainSpeed(b, { steps: n }), [gpuBackend, steps] as const);
    const pageCpu = await page.evaluate((n) => window.topiaryGpu!.trainSpeed('cpu', { steps: n }), Math.max(2, Math.round(steps / 4)));
    const node = await initBackend();
    const cli = await trainSpeed({ steps: steps * 2 });
    console.log(`LeNet-5 training, batch 64, Adam; GPU: ${info.backend} on ${info.adapter}${info.software ? ' (SOFTWARE: SwiftShader, not a GPU figure)' : ''}`);
    console.log(row(`GPU window (${gpuBackend})`, gpu));
    console.log(row(`CPU path (Node, ${node.name})`, cli));
    console.log(row('tfjs cpu in the same page', pageCpu));
    console.log(`  GPU / CPU path: ${(gpu.samplesPerS / cli.samplesPerS).toFixed(2)}x   GPU / page cpu: ${(gpu.samplesPerS / pageCpu.samplesPerS).toFixed(2)}x`);
  } finally {
    await pages.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
