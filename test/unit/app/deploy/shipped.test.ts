import { describe, expect, it } from 'vitest';
import { builtinProfile } from '../../../../src-main/common/profiles';
import { shipOrder } from '../../../../src-main/app/deploy/run-fit';
import { artifactLabel, shippedSize } from '../../../../src-main/app/deploy/shipped';
import { methodLabel } from '../../../../src-main/app/deploy/labels';
import { shippedOf } from '../../../../src-main/app/deploy/view';

const mobile = shipOrder(builtinProfile('mobile-midrange')!);
const art = (format: string, quant: string, bytes: number, status: 'ok' | 'failed' | 'unverified' = 'ok') => ({ format, quant, bytes, status });

describe('shipped size', () => {
  it('is the int8 .tflite file a mobile profile ships, with the in-memory float32 size second', () => {
    const s = shippedSize([art('tflite', 'none', 180_000), art('tflite', 'int8', 71_582)], 249_754, mobile);
    expect(s).toMatchObject({ bytes: 71_582, source: 'export', format: 'tflite', quant: 'int8', inMemoryBytes: 249_754, label: 'int8 .tflite' });
    expect(s.reason).toContain('mobile-midrange');
  });

  it('follows the profile order: float16 before int8 for the mobile profile', () => {
    expect(shippedSize([art('tflite', 'int8', 70_000), art('tflite', 'float16', 120_000)], 249_754, mobile).quant).toBe('float16');
  });

  it('a web profile ships the tfjs folder, not a .tflite file the run also made', () => {
    const web = shipOrder(builtinProfile('web-browser')!);
    const s = shippedSize([art('tflite', 'int8', 70_000), art('tfjs', 'float16', 130_000)], 249_754, web);
    expect(s).toMatchObject({ format: 'tfjs', quant: 'float16', bytes: 130_000, label: 'float16 tfjs' });
  });

  it('prefers a verified file over one whose verification failed', () => {
    const s = shippedSize([art('tflite', 'int8', 60_000, 'failed'), art('tflite', 'int8', 70_000, 'ok')], 1, mobile);
    expect(s.bytes).toBe(70_000);
  });

  it('without a profile, the smallest verified export', () => {
    const s = shippedSize([art('tflite', 'none', 180_000), art('tflite', 'int8', 60_000, 'failed'), art('tflite', 'float16', 100_000)], 249_754, null);
    expect(s).toMatchObject({ bytes: 100_000, quant: 'float16' });
    expect(s.reason).toContain('no device profile');
  });

  it('a run without exports says so and falls back to the in-memory size, labelled', () => {
    const s = shippedSize([], 249_754, mobile);
    expect(s).toMatchObject({ bytes: 249_754, source: 'in-memory', format: null, label: 'in-memory float32 (no export)' });
    expect(s.reason).toContain('no export');
  });

  it('labels files by numeric type and format', () => {
    expect(artifactLabel('tflite', 'none')).toBe('float32 .tflite');
    expect(artifactLabel('tflite', 'dynamic-int8')).toBe('dynamic-range int8 .tflite');
  });

  it('a stored run keeps its recorded choice, but an export made after an in-memory run counts', () => {
    const recorded = shippedSize([], 249_754, mobile);
    expect(shippedOf({ after: { sizeBytes: 249_754 }, shipped: recorded as never }, () => [])).toEqual(recorded);
    const later = shippedOf({ after: { sizeBytes: 249_754 }, shipped: recorded as never }, () => [{ ...art('tflite', 'int8', 70_000), id: 'a', runId: 'r', path: '/x', sha256: '', verification: null, reason: null, createdAt: '' }]);
    expect(later).toMatchObject({ bytes: 70_000, source: 'export' });
    // A run recorded before shipped sizes existed: worked out from its summary.
    expect(shippedOf({ after: { sizeBytes: 1234 } }, () => [])).toMatchObject({ bytes: 1234, source: 'in-memory' });
  });
});

describe('method label', () => {
  it('a fit-to-budget plan that prunes nothing is not labelled as a pruning method', () => {
    expect(methodLabel({ method: 'magnitude', granularity: 'structured', sparsity: 0, perLayer: {} })).toBe('fit to budget: no pruning needed');
    expect(methodLabel({ method: 'magnitude', granularity: 'structured', sparsity: 0, perLayer: { conv1: 0, fc1: 0 } })).toBe('fit to budget: no pruning needed');
    expect(methodLabel({ method: 'lamp', granularity: 'unstructured', sparsity: 0 })).toBe('no pruning (sparsity 0)');
  });

  it('a run that prunes keeps its method/granularity', () => {
    expect(methodLabel({ method: 'magnitude', granularity: 'structured', sparsity: 0, perLayer: { conv1: 0.25 } })).toBe('magnitude/structured');
    expect(methodLabel({ method: 'magnitude', granularity: 'unstructured', sparsity: 0.5 })).toBe('magnitude/unstructured');
  });
});
