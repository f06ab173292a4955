import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { builtinProfile, parseProfile } from '../../../../src-main/common/profiles';
import { analyzeModel } from '../../../../src-main/engine/analyze';
import { exportTflite } from '../../../../src-main/engine/export/tflite';
import { lenet5 } from '../../../../src-main/engine/models';
import { adviceFor } from '../../../../src-main/app/deploy/advice';
import { deploySummary } from '../../../../src-main/app/deploy/run-deploy';
import { numericTypeOf, runFitVerdict } from '../../../../src-main/app/deploy/run-fit';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'topiary-run-fit-'));
const calibration = Float32Array.from({ length: 16 * 28 * 28 }, (_, i) => (i % 255) / 255);

function exported(model: ReturnType<typeof lenet5>, quant: 'int8' | 'none') {
  const out = exportTflite(model, { quant, calibration });
  const file = path.join(dir, `${quant}.tflite`);
  fs.writeFileSync(file, out.bytes);
  return { path: file, format: 'tflite', quant, status: 'ok', bytes: out.bytes.byteLength, verification: { latencyMs: 0.5, runtime: 'litert test' } };
}

describe('the run fit verdict', () => {
  it('judges the int8 file on disk and float32 beside it, and the headline is the shipped int8 file', async () => {
    const model = lenet5({ seed: 1 });
    const a = analyzeModel(model);
    const int8 = exported(model, 'int8');
    const d = await deploySummary(model, builtinProfile('mobile-midrange')!, [int8], { before: a, after: a, parentFiles: new Map() });
    expect(d.shipped).toMatchObject({ bytes: int8.bytes, label: 'int8 .tflite', inMemoryBytes: a.sizeBytes });
    expect(d.after.shippedBytes).toBe(int8.bytes);
    const fit = d.fit!;
    expect(fit.fits).toBe(true);
    expect(fit.files.map((f) => [f.quant, f.exported, f.shipped])).toEqual([['int8', true, true], ['none', false, false]]);
    const [i8, f32] = fit.files;
    expect(i8.report.constraints.find((c) => c.constraint === 'storage')!.value).toBe(int8.bytes);
    // The verifier's timing of the file is the host latency.
    expect(i8.report.latency.hostMs).toBe(0.5);
    expect(f32.report.sizeBytes!).toBeGreaterThan(3 * int8.bytes);
    expect(i8.advice[0]).toMatch(/^fits: nothing to change; the tightest budget is/);
    model.dispose();
  });

  it('a file over budget says by how much and what to change', async () => {
    const model = lenet5({ seed: 2 });
    const a = analyzeModel(model);
    const f32 = exported(model, 'none');
    const tiny = parseProfile({ ...builtinProfile('mobile-midrange')!, id: 'tiny', builtin: false, storageBytes: 64 * 1024, latencyTargetMs: 0.001 });
    const fit = await runFitVerdict(model, tiny, [f32], { macs: a.macs, params: a.params, shipped: { format: 'tflite', quant: 'none' } });
    expect(fit.fits).toBe(false);
    const [file] = fit.files;
    expect(file.shipped).toBe(true);
    expect(file.advice.find((s) => s.startsWith('storage:'))).toMatch(/over the 64\.0 KiB budget: export int8/);
    expect(file.advice.find((s) => s.startsWith('latency:'))).toMatch(/cut about \d+ % of the MACs/);
    model.dispose();
  });

  it('a run without an export of the profile format is still judged, on a fresh export, and says so', async () => {
    const model = lenet5({ seed: 3 });
    const a = analyzeModel(model);
    const d = await deploySummary(model, builtinProfile('mcu-cortex-m4')!, [], { before: a, after: a, parentFiles: new Map() });
    expect(d.shipped.source).toBe('in-memory');
    expect(d.fit!.files).toHaveLength(1);
    expect(d.fit!.files[0]).toMatchObject({ quant: 'int8', exported: false, shipped: false });
    expect(d.fit!.notes.join(' ')).toContain('made no tflite export');
    model.dispose();
  });

  it('maps exported quantizations to profile numeric types', () => {
    expect(numericTypeOf('tflite', 'none')).toBe('float32');
    expect(numericTypeOf('tflite', 'int8')).toBe('int8');
    expect(numericTypeOf('tfjs', 'uint8')).toBe('dynamic-int8');
  });

  it('advice names unsupported ops by layer and disallowed numeric types', () => {
    const report = {
      profileId: 'p', profileName: 'P', format: 'tflite' as const, numericType: 'float32' as const, fits: false, unsupportedOps: [{ layer: 'lstm1', className: 'LSTM', ops: ['UNIDIRECTIONAL_SEQUENCE_LSTM'], reason: '' }],
      constraints: [
        { constraint: 'ops' as const, passed: false, value: 1, budget: 0, margin: -1, marginFraction: null, unit: 'ops' as const, estimate: false, detail: '' },
        { constraint: 'numeric' as const, passed: false, value: 1, budget: 0, margin: -1, marginFraction: null, unit: 'type' as const, estimate: false, detail: '' },
      ],
      sizeBytes: 1, gzipBytes: 1, arena: null, params: 1, macs: 1, latency: { estimateMs: 1, hostMs: null, hostRuntime: null }, notes: [],
    };
    const advice = adviceFor(report, ['int8']);
    expect(advice[0]).toContain('lstm1 (LSTM) needs UNIDIRECTIONAL_SEQUENCE_LSTM');
    expect(advice[1]).toBe('numeric type: float32 is not allowed on this device; export as int8');
  });
});
