/**
 * The native addon's baseline kernels (what a CPU without AVX2/FMA runs, or TOPIARY_NATIVE_ISA=
 * generic): the dev and CI machines pick AVX2, so the baseline path is checked in a child process
 * that forces it, against plain JavaScript references. On an AVX-512 CPU the default GEMM kernel is
 * the AVX-512 one; TOPIARY_NATIVE_ISA=avx2 checks the AVX2 one beside it.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadNativeAddon, nativeAddonPath } from '../../../src-main/node/native';

const script = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'fixtures', 'native-generic-check.mjs');
const { addon } = loadNativeAddon();

function check(isa: string | undefined): { isa: string; maxErr: number } {
  const env = { ...process.env };
  if (isa) env.TOPIARY_NATIVE_ISA = isa;
  else delete env.TOPIARY_NATIVE_ISA;
  return JSON.parse(execFileSync(process.execPath, [script, nativeAddonPath()], { env, encoding: 'utf8' }).trim()) as { isa: string; maxErr: number };
}

describe.runIf(addon !== undefined)('native addon instruction sets', () => {
  it('the baseline kernels compute GEMM (every transpose, bias, relu) and Adam like the references', () => {
    const r = check('generic');
    expect(r.isa).toBe('generic');
    expect(r.maxErr).toBeLessThan(1e-4);
  });

  it('the AVX2 GEMM kernel does too where the CPU would pick the AVX-512 one (TOPIARY_NATIVE_ISA=avx2)', () => {
    const r = check('avx2');
    expect(r.maxErr).toBeLessThan(1e-4);
  });

  it('the kernels this CPU picks do too', () => {
    const r = check(undefined);
    expect(r.maxErr).toBeLessThan(1e-4);
  });
});
