/**
 * The native addon's baseline kernels (what a CPU without AVX2/FMA runs, or TOPIARY_NATIVE_ISA=
 * generic): the dev and CI machines pick AVX2, so the baseline path is checked in a child process
 * that forces it, against plain JavaScript references. On an AVX-512 CPU the default GEMM tile and
 * direct filter-gradient kernel are the AVX-512 ones (isa "avx512f+fma"); TOPIARY_NATIVE_ISA=avx2
 * checks the AVX2 ones beside them.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
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
  it('the baseline kernels compute GEMM (every transpose, bias, relu), Adam and convolutions with their gradients like the references', () => {
    const r = check('generic');
    expect(r.isa).toBe('generic');
    expect(r.maxErr).toBeLessThan(1e-4);
  });

  it('the AVX2 kernels do too where the CPU would pick the AVX-512 ones (TOPIARY_NATIVE_ISA=avx2), and say so', () => {
    const r = check('avx2');
    expect(r.isa).toMatch(/^(avx2\+fma|generic|neon)$/);
    expect(r.maxErr).toBeLessThan(1e-4);
  });

  it('the kernels this CPU picks do too, and the name says which ran (avx512f+fma where the CPU has AVX-512F)', () => {
    const r = check(undefined);
    if (fs.readFileSync('/proc/cpuinfo', 'utf8').includes(' avx512f')) expect(r.isa).toBe('avx512f+fma');
    expect(r.maxErr).toBeLessThan(1e-4);
  });
});
