/** Runs one kernel on the cpu and the wasm backend from the same random inputs. */
import * as tf from '@tensorflow/tfjs';
import { expect } from 'vitest';
import { seededRandom } from '../../../../src-main/engine/data';

/** Deterministic pseudo-random values in [-1, 1) from the engine's seeded PRNG, so failures reproduce. */
export function randomValues(size: number, seed: number): Float32Array {
  const rand = seededRandom(seed);
  return Float32Array.from({ length: size }, () => rand() * 2 - 1);
}

export async function runKernelOn(
  backend: 'cpu' | 'wasm',
  kernelName: string,
  inputs: Record<string, { shape: number[]; values: Float32Array }>,
  attrs: Record<string, unknown>,
): Promise<{ shape: number[]; values: Float32Array }> {
  await tf.setBackend(backend);
  const tensors: Record<string, tf.Tensor> = {};
  for (const [name, { shape, values }] of Object.entries(inputs)) tensors[name] = tf.tensor(values, shape);
  const out = tf.engine().runKernel(kernelName, tensors, attrs as tf.NamedAttrMap) as tf.Tensor;
  const result = { shape: out.shape, values: (await out.data()) as Float32Array };
  out.dispose();
  Object.values(tensors).forEach((t) => t.dispose());
  return result;
}

/**
 * Runs `kernelName` on cpu and on wasm (with whatever kernels wasm has registered) and expects the
 * same shape and values within `tol`; returns the wasm result for further checks.
 */
export async function expectWasmMatchesCpu(
  kernelName: string,
  inputs: Record<string, { shape: number[]; values: Float32Array }>,
  attrs: Record<string, unknown>,
  tol: number,
): Promise<{ shape: number[]; values: Float32Array }> {
  const cpu = await runKernelOn('cpu', kernelName, inputs, attrs);
  const wasm = await runKernelOn('wasm', kernelName, inputs, attrs);
  expect(wasm.shape).toEqual(cpu.shape);
  expect(maxAbsDiff(wasm.values, cpu.values)).toBeLessThan(tol);
  return wasm;
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/**
 * Straight-from-the-definition depthwise gradients, used where the cpu kernels cannot serve as the
 * reference: tfjs-backend-cpu's depthwise backprop kernels ignore `dilations` (tfjs never calls
 * them with dilation > 1). y[n,oh,ow,c·M+m] = Σ x[n, oh·s + i·d - pt, ow·s + j·d - pl, c]·w[i,j,c,m].
 */
export function depthwiseGradsByDefinition(
  x: { shape: number[]; values: Float32Array },
  w: { shape: number[]; values: Float32Array },
  dy: { shape: number[]; values: Float32Array },
  geometry: { strides: [number, number]; dilations: [number, number]; padTop: number; padLeft: number },
): { dx: Float32Array; dw: Float32Array } {
  const [n, h, wd, c] = x.shape;
  const [fh, fw, , m] = w.shape;
  const [, oh, ow] = dy.shape;
  const dx = new Float32Array(x.values.length);
  const dw = new Float32Array(w.values.length);
  const { strides: s, dilations: d, padTop, padLeft } = geometry;
  for (let b = 0; b < n; b++)
    for (let r = 0; r < oh; r++)
      for (let q = 0; q < ow; q++)
        for (let i = 0; i < fh; i++)
          for (let j = 0; j < fw; j++) {
            const xr = r * s[0] + i * d[0] - padTop;
            const xc = q * s[1] + j * d[1] - padLeft;
            if (xr < 0 || xr >= h || xc < 0 || xc >= wd) continue;
            for (let ch = 0; ch < c; ch++)
              for (let k = 0; k < m; k++) {
                const g = dy.values[((b * oh + r) * ow + q) * c * m + ch * m + k];
                const xi = ((b * h + xr) * wd + xc) * c + ch;
                const wi = ((i * fw + j) * c + ch) * m + k;
                dx[xi] += g * w.values[wi];
                dw[wi] += g * x.values[xi];
              }
          }
  return { dx, dw };
}
