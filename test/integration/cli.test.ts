import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '..', '..');
const home = fs.mkdtempSync(path.join(os.tmpdir(), 'topiary-cli-'));

function topiary(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [path.join(root, 'bin', 'topiary.mjs'), ...args], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, TOPIARY_HOME: home, TOPIARY_BACKEND: 'wasm', CI: '1', ...env },
    timeout: 120_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('topiary CLI', () => {
  it('info --json reports the forced backend and its version', () => {
    const r = topiary(['info', '--json'], { TOPIARY_BACKEND: 'cpu' });
    expect(r.code, r.stderr).toBe(0);
    const info = JSON.parse(r.stdout);
    expect(info.backend.name).toBe('cpu');
    expect(info.backend.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(info.dataDir).toBe(home);
  });

  it('info says which backend trains and what decided it: settings.json, overridden by TOPIARY_BACKEND', () => {
    const file = path.join(home, 'settings.json');
    fs.writeFileSync(file, JSON.stringify({ trainingBackend: 'webgpu', gpuMemoryLimitMiB: 1024 }));
    try {
      const fromFile = topiary(['info'], { TOPIARY_BACKEND: 'auto' });
      expect(fromFile.code, fromFile.stderr).toBe(0);
      expect(fromFile.stdout).toMatch(/^trains on webgpu \(settings\.json\)$/m);
      expect(fromFile.stdout).toContain(`settings  ${file}  (GPU memory limit 1024 MiB)`);
      expect(fromFile.stdout).toMatch(/^GPU {7}none used here: the settings choose webgpu for the GPU window/m);
      const over = topiary(['info', '--json'], { TOPIARY_BACKEND: 'cpu' });
      const info = JSON.parse(over.stdout);
      expect(info.settings.training).toEqual({ choice: 'cpu', source: 'env', env: 'cpu' });
      expect(info.settings.trainingLine).toBe("cpu (TOPIARY_BACKEND=cpu overrides the settings' webgpu)");
    } finally {
      fs.rmSync(file, { force: true });
    }
  });

  it('an unknown TOPIARY_BACKEND is bad input (exit 2) with a message naming the choices', () => {
    const r = topiary(['info'], { TOPIARY_BACKEND: 'quantum' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('TOPIARY_BACKEND must be one of');
  });

  it('analyze of a missing model exits 2 and names the path', () => {
    const missing = path.join(home, 'no-such-model');
    const r = topiary(['analyze', missing]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(missing);
  });

  it('analyze demo --json prints one JSON document with the per-layer table', () => {
    const r = topiary(['analyze', 'demo', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const d = JSON.parse(r.stdout);
    expect(d.analysis.layers.length).toBeGreaterThan(5);
    expect(d.analysis.params).toBeGreaterThan(10_000);
  });

  it('evaluate demo on the demo data reaches the accuracy of a trained model', () => {
    const r = topiary(['evaluate', 'demo', '--data', 'demo', '--limit', '300', '--latency-runs', '3', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const e = JSON.parse(r.stdout);
    expect(e.samples).toBe(300);
    expect(e.accuracy).toBeGreaterThan(0.75);
    expect(e.latency.map((l: { batchSize: number }) => l.batchSize)).toEqual([1, 64]);
    // What ran the forward passes: the native forward pass where it covers the model, else tfjs.
    expect(['native graph step', 'tfjs']).toContain(e.path);
    expect(r.stdout).not.toMatch(/^inference/m);
    const text = topiary(['evaluate', 'demo', '--data', 'demo', '--limit', '100', '--latency-runs', '2']);
    expect(text.stdout).toMatch(/^inference (native graph step|tfjs|evaluated by .+, latency by .+)$/m);
  });

  it('evaluate with a dataset whose samples do not fit the model is bad input', () => {
    const csv = path.join(home, 'three-features.csv');
    fs.writeFileSync(csv, 'a,b,c,label\n' + Array.from({ length: 20 }, (_, i) => `${i},${i + 1},${i + 2},${i % 2}`).join('\n') + '\n');
    const r = topiary(['evaluate', 'demo', '--data', `csv:${csv}`]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/model expects/);
  });

  it('unknown options are usage errors (exit 2)', () => {
    const r = topiary(['analyze', 'demo', '--no-such-flag']);
    expect(r.code).toBe(2);
  });

  it('prune records a run that runs list shows, and export of that run writes a verified bundle', () => {
    const pruned = topiary(['prune', 'demo', '--data', 'demo', '--sparsity', '0.6', '--epochs', '1', '--max-samples', '256', '--eval-limit', '200', '--json']);
    expect(pruned.code, pruned.stderr).toBe(0);
    const run = JSON.parse(pruned.stdout);
    expect(run.status).toBe('done');
    expect(run.plan.achievedSparsity).toBeCloseTo(0.6, 2);
    expect(pruned.stderr).toMatch(/finetune/);
    // The run records what trained it: the native step, or the tfjs step with the reason.
    const [training] = run.summary.training as { path: string; note?: string; microBatch: number }[];
    expect(['native', 'tfjs']).toContain(training.path);
    if (training.path === 'tfjs') expect(training.note).toMatch(/\w/);
    expect(training.microBatch).toBe(64);
    // ... and what evaluated and timed it, before and after: the native forward pass when the native step trained it.
    const inference = run.summary.inference as Record<'baseline' | 'final', { evaluate: string; latency: string }>;
    for (const phase of ['baseline', 'final'] as const) {
      expect(['native graph step', 'tfjs']).toContain(inference[phase].evaluate);
      expect(['native graph step', 'tfjs']).toContain(inference[phase].latency);
    }
    if (training.path === 'native') expect(inference.final).toEqual({ evaluate: 'native graph step', latency: 'native graph step' });
    const shown = topiary(['runs', 'show', run.id.slice(0, 8)]);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(/^paths {5}fine-tuned by .+ · inference by .+$/m);
    expect(shown.stdout).toContain(`inference by ${inference.final.evaluate === inference.final.latency ? inference.final.evaluate : 'evaluated by'}`);
    const shownJson = JSON.parse(topiary(['runs', 'show', run.id.slice(0, 8), '--json']).stdout);
    expect(shownJson.summary.inference).toEqual(inference);

    const list = topiary(['runs', 'list', '--json']);
    expect(list.code, list.stderr).toBe(0);
    expect(JSON.stringify(JSON.parse(list.stdout))).toContain(run.id);

    const out = path.join(home, 'bundle-float32');
    const exported = topiary(['export', run.id.slice(0, 8), '--format', 'tflite', '--quant', 'none', '--samples', '200', '--out', out, '--json']);
    expect(exported.code, exported.stderr).toBe(0);
    const e = JSON.parse(exported.stdout);
    expect(e.artifact.status).toBe('ok');
    expect(e.artifact.verification.maxAbsDiff).toBeLessThanOrEqual(1e-4);
    expect(fs.existsSync(path.join(out, 'model.tflite'))).toBe(true);
    expect(JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8')).verification.passed).toBe(true);

    // The bundle folder now exists: a second export there is refused unless --overwrite.
    const again = topiary(['export', run.id.slice(0, 8), '--format', 'tflite', '--out', out]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/refusing to overwrite/);
  });

  it('prune --qat records the QAT phase, the zeros in the int8 .tflite and the tfjs shards as downloaded', () => {
    const r = topiary(['prune', 'demo', '--data', 'demo', '--sparsity', '0.9', '--epochs', '1', '--qat', '--max-samples', '256', '--eval-limit', '200', '--no-sensitivity', '--export', 'tflite:int8:sparse,tfjs:none', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const run = JSON.parse(r.stdout);
    const training = run.summary.training as { path: string; qat?: { epochs: number; weights: string } }[];
    expect(training[1]).toMatchObject({ path: 'tfjs', qat: { epochs: 1, weights: 'per-channel' } });
    const exports = run.summary.exports as { format: string; weightZeros?: { zeros: number; weights: number; sparseTensors: number }; download?: { rawBytes: number; gzipBytes: number; brotliBytes: number } }[];
    const tflite = exports.find((e) => e.format === 'tflite')!;
    expect(tflite.weightZeros!.zeros / tflite.weightZeros!.weights).toBeGreaterThanOrEqual(0.89);
    expect(tflite.weightZeros!.sparseTensors).toBeGreaterThan(0);
    const tfjs = exports.find((e) => e.format === 'tfjs')!;
    expect(tfjs.download!.brotliBytes).toBeGreaterThan(0);
    expect(tfjs.download!.gzipBytes).toBeLessThan(tfjs.download!.rawBytes);
    expect(run.artifacts.every((a: { status: string }) => a.status === 'ok')).toBe(true);
  });

  it('full-integer export of a model file without calibration data is bad input', () => {
    const r = topiary(['export', 'demo', '--format', 'tflite', '--quant', 'int8', '--out', path.join(home, 'int8')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/calibration/);
  });

  it('prune with an impossible sparsity is bad input and records nothing', () => {
    const r = topiary(['prune', 'demo', '--data', 'demo', '--sparsity', '1.2']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/sparsity must be in \[0, 1\), got 1.2/);
  });
});
