/**
 * The GPU engine page (src-renderer/gpu.html -> src-main/gpu/) in Debian's Chromium with a software
 * GPU: SwiftShader behind ANGLE for WebGL, SwiftShader's Vulkan for WebGPU (Chromium exposes it with
 * the flags in SOFTWARE_GPU, on a secure origin only: 127.0.0.1 counts, file:// and about:blank not).
 * The page is built with the project's vite config into a temp folder and served over HTTP.
 *
 * Conformance: every layer kind of the modern nets, N = 5 Adam steps (lr 1e-3, batch 16, half of
 * every kernel masked), cpu backend vs GPU backend in the same page, same start and batches.
 * Tolerances (float32 on both sides; the GPU sums in a different order, so results differ by
 * float rounding and nothing else). Measured on SwiftShader (WebGL and WebGPU): losses within 2e-7 relative,
 * weights within 1e-6 absolute, updates within 7e-5 (L2, relative; the MobileNetV2 block, the rest
 * ~1e-6). Asserted with margin:
 *  - loss of every step: 1e-5 relative;
 *  - weights: ||w_gpu - w_cpu|| <= 1e-3 ||w_cpu - w0|| per tensor (a thousandth of what training
 *    changed), and no single weight off by more than 1e-5 (1% of one Adam step at lr 1e-3);
 *  - masks: exact. Pruned weights are exactly 0 after training on both backends.
 * Before adamEpsilon() (engine/finetune/adam.ts) WebGL's Adam used eps 1e-4 (a tfjs-backend-webgl
 * 4.22 bug) and the same run drifted by up to 30% of its update in 5 steps; these bounds catch that.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConformanceResult } from '../../src-main/gpu/conformance';
import type { GpuInfo } from '../../src-main/common/contract/gpu';
import { CHROMIUM, hasChromium, openGpuPage as open, serveGpuPage, SOFTWARE_GPU, type GpuPageServer } from '../support/gpu-page';
import * as tf from '@tensorflow/tfjs';
import { seededRandom } from '../../src-main/engine/data';
import { lenet5 } from '../../src-main/engine/models';
import { validatePruneConfig } from '../../src-main/engine/prune/config';
import { pruneUnstructured } from '../../src-main/engine/prune/unstructured';
import { jobModel, runFinetuneJob, type GpuFinetuneJob } from '../../src-main/gpu/job';
import { initBackend } from '../../src-main/node/backend';
import { atEveryViewport, shot, startWeb } from './harness';

const chromiumHere = hasChromium();
if (!chromiumHere) console.warn(`gpu.test.ts: skipped, no Chromium at ${CHROMIUM} (set CHROMIUM_PATH)`);

export const TOLERANCE = { loss: 1e-5, update: 1e-3, weight: 1e-5 };

let pages: GpuPageServer;

async function openGpuPage(choice: string, args = SOFTWARE_GPU): Promise<{ page: Page; info: GpuInfo; close(): Promise<void> }> {
  const browser = await pages.launch(args);
  const { page, info, errors } = await open(browser, pages.base, choice);
  expect(errors).toEqual([]);
  return { page, info, close: () => browser.close() };
}

function report(label: string, rows: ConformanceResult[]): void {
  const lines = rows.map(
    (r) =>
      `  ${r.name.padEnd(22)} loss rel ${r.lossRel.toExponential(1)}  weights abs ${r.weightAbs.toExponential(1)}  of a step ${r.updateRel.toExponential(1)} (${r.worst})  leaks ${r.leaksGpu}/${r.pruned}  cpu ${r.cpuMs.toFixed(0)} ms gpu ${r.gpuMs.toFixed(0)} ms`,
  );
  console.log(`${label} vs cpu, ${rows[0]?.steps} Adam steps:\n${lines.join('\n')}`);
}

function expectConformant(rows: ConformanceResult[], cases: string[]): void {
  expect(rows.map((r) => r.name)).toEqual(cases);
  for (const r of rows) {
    expect(r.gpuLosses.length, r.name).toBe(r.steps);
    expect(r.lossRel, `${r.name}: losses ${r.gpuLosses} vs ${r.cpuLosses}`).toBeLessThanOrEqual(TOLERANCE.loss);
    expect(r.updateRel, `${r.name}: weights (${r.worst})`).toBeLessThanOrEqual(TOLERANCE.update);
    expect(r.weightAbs, `${r.name}: largest weight difference`).toBeLessThanOrEqual(TOLERANCE.weight);
    expect(r.pruned, r.name).toBeGreaterThan(0);
    expect(r.leaksCpu, `${r.name}: pruned weights not 0 on cpu`).toBe(0);
    expect(r.leaksGpu, `${r.name}: pruned weights not 0 on the GPU`).toBe(0);
  }
  // Training did something: losses moved on every case.
  for (const r of rows) expect(r.cpuLosses[0], r.name).not.toBe(r.cpuLosses.at(-1));
}

describe.skipIf(!chromiumHere)('GPU engine page in Chromium with SwiftShader', () => {
  beforeAll(async () => {
    pages = await serveGpuPage();
  });
  afterAll(async () => {
    await pages?.close();
  });

  it('auto picks a GPU backend that passes the self-test and names its adapter', async () => {
    const { page, info, close } = await openGpuPage('auto');
    try {
      expect(info.backend).not.toBeNull();
      expect(info.selfTest?.passed).toBe(true);
      // The self-test freed every tensor it made, on both backends.
      expect(await page.evaluate(() => window.topiaryGpu!.memory().numTensors)).toBe(0);
      expect(info.adapter).toMatch(/swiftshader/i);
      expect(info.software).toBe(true);
      const text = (await page.textContent('#status')) ?? '';
      expect(text).toContain(`GPU: ${info.backend} on `);
      expect(text).toContain('software rendering, not a real GPU');
      expect(text).toMatch(/self-test: passed, 3 Adam steps/);
      await shot(page, 'gpu-page-auto');
      console.log(`auto: ${text}`);
    } finally {
      await close();
    }
  });

  it('WebGL training matches the cpu backend for every layer kind, masks exact', async () => {
    const { page, info, close } = await openGpuPage('webgl');
    try {
      expect(info.backend).toBe('webgl');
      expect(info.adapter).toMatch(/swiftshader/i);
      const cases = await page.evaluate(() => window.topiaryGpu!.cases);
      const before = await page.evaluate(() => window.topiaryGpu!.memory().numTensors);
      const rows = await page.evaluate(() => window.topiaryGpu!.conformance('webgl'));
      report('webgl', rows);
      expectConformant(rows, cases);
      // Both backends' tensors were all freed.
      expect(await page.evaluate(() => window.topiaryGpu!.memory().numTensors)).toBe(before);
    } finally {
      await close();
    }
  });

  it('WebGPU training matches the cpu backend for every layer kind where it initializes; otherwise it is refused with the reason', async () => {
    const { page, info, close } = await openGpuPage('webgpu');
    try {
      if (info.backend !== 'webgpu') {
        // E.g. a Chromium whose SwiftShader adapter fails tfjs's first upload (createBuffer with
        // mappedAtCreation, see SOFTWARE_GPU): the page must refuse it, say why, and stay on cpu.
        expect(info.backend).toBeNull();
        expect(info.skipped).toHaveLength(1);
        expect(info.skipped[0].name).toBe('webgpu');
        expect((await page.textContent('#status')) ?? '').toContain(`webgpu not used: ${info.skipped[0].reason}`);
        console.warn(`webgpu: not usable in this Chromium, conformance not run: ${info.skipped[0].reason}`);
        return;
      }
      expect(info.adapter).toMatch(/swiftshader/i);
      const cases = await page.evaluate(() => window.topiaryGpu!.cases);
      const rows = await page.evaluate(() => window.topiaryGpu!.conformance('webgpu'));
      report('webgpu', rows);
      expectConformant(rows, cases);
    } finally {
      await close();
    }
  });

  it('without WebGPU in the browser, a forced webgpu says why and training stays on the cpu', async () => {
    // No --enable-unsafe-webgpu: Chromium on Linux offers no WebGPU adapter.
    const { page, info, close } = await openGpuPage('webgpu', ['--use-gl=angle', '--use-angle=swiftshader', '--enable-unsafe-swiftshader']);
    try {
      expect(info.backend).toBeNull();
      expect(info.skipped.map((s) => s.name)).toEqual(['webgpu']);
      expect(info.skipped[0].reason).toMatch(/no WebGPU adapter/);
      const text = (await page.textContent('#status')) ?? '';
      expect(text).toContain('GPU: none usable; training stays on the CPU');
      expect(text).toContain(`webgpu not used: ${info.skipped[0].reason}`);
      expect(await page.evaluate(() => document.getElementById('status')?.dataset.state)).toBe('none');
      console.log(`no webgpu: ${text}`);
    } finally {
      await close();
    }
  });

  it('web mode serves the GPU page: it picks WebGL in the browser, under the server\'s CSP, and fits every window size', async () => {
    const web = await startWeb();
    const browser = await pages.launch(SOFTWARE_GPU);
    try {
      const origin = new URL(web.url).origin;
      const { page, info, errors } = await open(browser, origin, 'webgl');
      expect(errors).toEqual([]);
      expect(info.backend).toBe('webgl');
      expect(info.selfTest?.passed).toBe(true);
      const text = (await page.textContent('#status')) ?? '';
      expect(text).toMatch(/^GPU: webgl on ANGLE .*SwiftShader/);
      const scroll = await atEveryViewport(page, 'gpu-web-page');
      expect(scroll).toEqual({ '800x600': 0, '1280x800': 0, '1920x1080': 0 });
    } finally {
      await browser.close();
      await web.stop();
    }
  });

  it('GPU memory capping on WebGL: a batch that fits is kept, one that does not is lowered with a note, batch 1 over the limit is refused; no tensor left', async () => {
    await initBackend({ force: 'cpu' });
    const model = lenet5({ seed: 3 });
    const job = { model: await jobModel(model), cfg: { epochs: 1, batchSize: 64, learningRate: 1e-3, optimizer: 'adam' as const } };
    model.dispose();
    const { page, info, close } = await openGpuPage('webgl');
    try {
      expect(info.backend).toBe('webgl');
      const before = await page.evaluate(() => window.topiaryGpu!.memory().numTensors);
      const roomy = await page.evaluate((j) => window.topiaryGpu!.fitBatch(j, 2048 * 2 ** 20), job);
      expect(roomy.batchSize).toBe(64);
      expect(roomy.note).toBeUndefined();
      const m = roomy.measured;
      expect(m.backend).toBe('webgl');
      expect(m.probes.map((p) => p.batch)).toEqual([8, 16]);
      expect(m.probes[1].stepBytes).toBeGreaterThan(m.probes[0].stepBytes);
      expect(m.perSampleBytes).toBeGreaterThan(0);
      // WebGL's texture pool is read (reported, not used for the fit: see memory.ts).
      expect(typeof m.poolGrowthBytes).toBe('number');
      // Room for 16.5 samples: 16 is the largest batch that fits.
      const limit = Math.floor(m.heldBytes + m.optimizerBytes + m.stepFixedBytes + 16.5 * m.perSampleBytes);
      const tight = await page.evaluate(([j, l]) => window.topiaryGpu!.fitBatch(j, l), [job, limit] as const);
      expect(tight.batchSize).toBe(16);
      expect(tight.estimateBytes).toBeLessThanOrEqual(limit);
      expect(tight.pool).toMatch(/^webgl: freed textures are deleted once more than [\d.]+ (KiB|MiB) is allocated$/);
      const refused = await page.evaluate((j) => window.topiaryGpu!.fitBatch(j, 256 * 1024).then(() => 'fitted', (e: Error) => e.message), job);
      expect(refused).toMatch(/^even batch 1 needs ~[\d.]+ (KiB|MiB) on webgl, over the 256.0 KiB GPU memory limit \(measured on webgl: .*\); raise gpuMemoryLimitMiB in the settings, or train on the CPU$/);
      expect(await page.evaluate(() => window.topiaryGpu!.memory().numTensors)).toBe(before);
      console.log(`webgl memory: ${tight.note}; probes ${JSON.stringify(m.probes)}, texture pool grew ${m.poolGrowthBytes} B under a 2 GiB cap`);
      // The texture pool is capped too: in a fresh window, probing under the tight limit grows it by
      // at most the limit, where under the roomy one it grew past it (WebGL pools freed textures).
      expect(m.poolGrowthBytes!).toBeGreaterThan(limit);
      const fresh = await openGpuPage('webgl');
      try {
        const capped = await fresh.page.evaluate(([j, l]) => window.topiaryGpu!.fitBatch(j, l), [job, limit] as const);
        expect(capped.batchSize).toBe(16);
        expect(capped.measured.poolGrowthBytes!).toBeLessThanOrEqual(limit);
        console.log(`webgl texture pool grew ${capped.measured.poolGrowthBytes} B under the ${limit} B cap`);
      } finally {
        await fresh.close();
      }
    } finally {
      await close();
    }
  });

  it('GPU memory capping on WebGPU where it initializes: measured on webgpu, lowered with a note; its buffer pool cannot be capped and that is said', async () => {
    await initBackend({ force: 'cpu' });
    const model = lenet5({ seed: 3 });
    const job = { model: await jobModel(model), cfg: { epochs: 1, batchSize: 64, learningRate: 1e-3, optimizer: 'adam' as const } };
    model.dispose();
    const { page, info, close } = await openGpuPage('webgpu');
    try {
      if (info.backend !== 'webgpu') {
        expect(info.skipped.map((s) => s.name)).toEqual(['webgpu']);
        console.warn(`webgpu memory capping not run: ${info.skipped[0].reason}`);
        return;
      }
      const before = await page.evaluate(() => window.topiaryGpu!.memory().numTensors);
      const roomy = await page.evaluate((j) => window.topiaryGpu!.fitBatch(j, 2048 * 2 ** 20), job);
      const m = roomy.measured;
      expect(roomy.batchSize).toBe(64);
      expect(m.backend).toBe('webgpu');
      expect(m.probes[1].stepBytes).toBeGreaterThan(m.probes[0].stepBytes);
      expect(typeof m.poolGrowthBytes).toBe('number');
      expect(roomy.pool).toMatch(/^webgpu: freed buffers stay pooled/);
      const limit = Math.floor(m.heldBytes + m.optimizerBytes + m.stepFixedBytes + 16.5 * m.perSampleBytes);
      const tight = await page.evaluate(([j, l]) => window.topiaryGpu!.fitBatch(j, l), [job, limit] as const);
      expect(tight.batchSize).toBe(16);
      expect(tight.note).toMatch(/^batch 64 → 16 to fit the [\d.]+ (KiB|MiB) GPU memory limit \(measured on webgpu: /);
      expect(await page.evaluate(() => window.topiaryGpu!.memory().numTensors)).toBe(before);
      console.log(`webgpu memory: ${tight.note}; probes ${JSON.stringify(m.probes)}, buffer pool grew ${m.poolGrowthBytes} B`);
    } finally {
      await close();
    }
  });

  it('a prune + fine-tune job: pruned in Node, fine-tuned in the GPU window on WebGL, weights back with masks exact and equal to the cpu run', async () => {
    // Prune LeNet-5 to 70% (global magnitude) in Node, then make the job the window runs.
    await initBackend({ force: 'cpu' });
    const model = lenet5({ seed: 3 });
    const { masks } = await pruneUnstructured(model, validatePruneConfig({ sparsity: 0.7 }, model));
    const rand = seededRandom(9);
    const n = 128;
    const job: GpuFinetuneJob = {
      model: await jobModel(model),
      masks: model.weights.filter((w) => masks.has(w.name)).map((w) => ({ name: w.originalName, keep: Array.from(masks.get(w.name)!.dataSync()) })),
      data: { x: Array.from({ length: n * 784 }, () => rand()), y: Array.from({ length: n }, () => Math.floor(rand() * 10)), sampleSize: 784 },
      cfg: { epochs: 1, batchSize: 32, learningRate: 1e-3, optimizer: 'adam' },
      seed: 5,
    };
    for (const m of masks.values()) m.dispose();
    model.dispose();
    expect(job.masks.map((m) => m.name)).toEqual(['conv1/kernel', 'conv2/kernel', 'fc1/kernel', 'fc2/kernel', 'fc3/kernel']);
    const cpu = await runFinetuneJob(job);
    expect(tf.memory().numTensors).toBe(0);

    const { page, info, close } = await openGpuPage('webgl');
    try {
      expect(info.backend).toBe('webgl');
      const gpu = await page.evaluate((j) => window.topiaryGpu!.finetune(j), job);
      // What a run would record: the backend and the adapter it trained on.
      expect(gpu.backend).toBe('webgl');
      expect(gpu.adapter).toMatch(/SwiftShader/);
      expect(gpu.steps).toBe(4);
      expect(gpu.history[0].loss).toBeCloseTo(cpu.history[0].loss, 5);
      expect(gpu.weights.map((w) => w.name)).toEqual(cpu.weights.map((w) => w.name));
      let pruned = 0;
      for (const m of job.masks) {
        const values = gpu.weights.find((w) => w.name === m.name)!.values;
        const leaks = m.keep.filter((k, i) => k === 0 && values[i] !== 0).length;
        pruned += m.keep.filter((k) => k === 0).length;
        expect(leaks, `${m.name}: pruned weights not 0 after fine-tuning on WebGL`).toBe(0);
      }
      expect(pruned / job.masks.reduce((a, m) => a + m.keep.length, 0)).toBeCloseTo(0.7, 2);
      gpu.weights.forEach((w, t) => {
        const ref = cpu.weights[t].values;
        const worst = Math.max(...w.values.map((v, i) => Math.abs(v - ref[i])));
        expect(worst, w.name).toBeLessThanOrEqual(TOLERANCE.weight);
      });
      // Training changed the kept weights (the job did something).
      const start = new Float32Array(job.model.weights.slice(0, job.masks[0].keep.length));
      expect(gpu.weights[0].values.some((v, i) => Math.abs(v - start[i]) > 1e-5)).toBe(true);
      console.log(`prune + fine-tune job on webgl: ${gpu.steps} steps in ${gpu.ms.toFixed(0)} ms (cpu ${cpu.ms.toFixed(0)} ms), loss ${gpu.history[0].loss} vs cpu ${cpu.history[0].loss}`);
    } finally {
      await close();
    }
  });
});
