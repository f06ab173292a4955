/**
 * Library vs hand-written GEMM: native/gemm.c's packed SGEMM (what the addon runs) against
 * Debian's OpenBLAS 0.3.21 cblas_sgemm, both builds (openmp, pthread), at 1 and 2 threads, on the
 * products the benchmark nets train with at batch 64. 1x1 convolutions are plain GEMMs: forward
 * M = N*H*W, K = Cin, N = Cout; their filter gradient dW = Xᵀ·dY has M = Cin, N = Cout, K = N*H*W
 * (ta = 1). 3x3 convolutions are shown as their im2col GEMM (K = 9*Cin). GFLOP/s = 2*M*N*K / s.
 *
 * Run: npx tsx test/bench/gemm-vs-openblas.ts (~1 min; needs gcc and libopenblas0-openmp/-pthread,
 * skips what is missing). A measurement only: the addon does not link OpenBLAS (users' machines
 * would need the system package).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const LIBS = {
  openmp: '/usr/lib/x86_64-linux-gnu/openblas-openmp/libopenblas.so.0',
  pthread: '/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0',
};

/** [name, M, N, K, transA, transB] */
const SHAPES: [string, number, number, number, number, number][] = [
  ['lenet300 fc1 fwd', 64, 300, 784, 0, 0],
  ['lenet300 fc1 dW', 784, 300, 64, 1, 0],
  ['lenet5 conv2 im2col', 64 * 8 * 8, 16, 150, 0, 0],
  ['mbv2-28 1x1 16->16 @14', 64 * 14 * 14, 16, 16, 0, 0],
  ['mbv2-28 1x1 24->96 @7', 64 * 7 * 7, 96, 24, 0, 0],
  ['mbv2-28 1x1 128->32 @4', 64 * 4 * 4, 32, 128, 0, 0],
  ['mbv2-96 1x1 8->48 @48', 64 * 48 * 48, 48, 8, 0, 0],
  ['mbv2-96 1x1 48->8 @24', 64 * 24 * 24, 8, 48, 0, 0],
  ['mbv2-96 1x1 16->96 @12', 64 * 12 * 12, 96, 16, 0, 0],
  ['mbv2-96 1x1 96->16 @12 dW', 96, 16, 64 * 12 * 12, 1, 0],
  ['mbv2-96 1x1 56->336 @3', 64 * 3 * 3, 336, 56, 0, 0],
  ['mbv2-96 Conv_1 112->1280 @3', 64 * 3 * 3, 1280, 112, 0, 0],
  ['resnet8 3x3 16->16 im2col @32', 64 * 32 * 32, 16, 144, 0, 0],
  ['resnet8 3x3 64->64 im2col @8', 64 * 8 * 8, 64, 576, 0, 0],
  ['ds-cnn 1x1 64->64 @25x5', 64 * 25 * 5, 64, 64, 0, 0],
  // ResNet-8's GEMM-path convolutions as one training lane runs them (batch 32 of 64 per thread):
  // forward (im2col), filter gradient dW = colᵀ·dY (ta = 1), input gradient columns dY·Wᵀ (tb = 1).
  ['resnet8 3x3 16->32 s2 @16 fwd', 32 * 16 * 16, 32, 144, 0, 0],
  ['resnet8 3x3 16->32 s2 @16 dW', 144, 32, 32 * 16 * 16, 1, 0],
  ['resnet8 3x3 16->32 s2 @16 dX', 32 * 16 * 16, 144, 32, 0, 1],
  ['resnet8 3x3 32->32 @16 fwd', 32 * 16 * 16, 32, 288, 0, 0],
  ['resnet8 3x3 32->32 @16 dW', 288, 32, 32 * 16 * 16, 1, 0],
  ['resnet8 3x3 32->32 @16 dX', 32 * 16 * 16, 288, 32, 0, 1],
  ['resnet8 3x3 32->64 s2 @8 fwd', 32 * 8 * 8, 64, 288, 0, 0],
  ['resnet8 3x3 32->64 s2 @8 dW', 288, 64, 32 * 8 * 8, 1, 0],
  ['resnet8 3x3 64->64 @8 fwd', 32 * 8 * 8, 64, 576, 0, 0],
  ['resnet8 3x3 64->64 @8 dW', 576, 64, 32 * 8 * 8, 1, 0],
  ['resnet8 3x3 64->64 @8 dX', 32 * 8 * 8, 576, 64, 0, 1],
  ['resnet8 1x1 16->32 s2 @16 fwd', 32 * 16 * 16, 32, 16, 0, 0],
  ['resnet8 1x1 32->64 s2 @8 fwd', 32 * 8 * 8, 64, 32, 0, 0],
];

interface Row {
  shape: string;
  m: number;
  n: number;
  k: number;
  ours_1t: number;
  ours_2t: number;
  openblas_1t: number;
  openblas_2t: number;
}

function main(): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'topiary-gemm-'));
  const exe = path.join(dir, 'gemm_vs_openblas');
  try {
    execFileSync('gcc', ['-O3', '-std=gnu11', '-ffp-contract=fast', '-fno-math-errno', '-Wall', '-Wno-psabi', '-fopenmp', '-o', exe,
      path.join(here, 'gemm_vs_openblas.c'), path.join(root, 'native', 'gemm.c'), '-ldl'], { stdio: 'inherit' });
  } catch {
    console.log('gcc could not build test/bench/gemm_vs_openblas.c; skipped');
    return;
  }
  const shapes = path.join(dir, 'shapes.txt');
  fs.writeFileSync(shapes, SHAPES.map((s) => `${s[0].replace(/ /g, '_')} ${s.slice(1).join(' ')}`).join('\n') + '\n');
  const results = new Map<string, Row[]>();
  let isa = '?';
  for (const [build, lib] of Object.entries(LIBS)) {
    if (!fs.existsSync(lib)) {
      console.log(`${lib} missing: ${build} column skipped`);
      continue;
    }
    const r = spawnSync(exe, [lib, shapes], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    if (r.status !== 0) {
      console.log(`${build}: the bench exited with ${r.status}`);
      continue;
    }
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Row & { isa?: string; openblas?: string });
    isa = lines[0].isa ?? isa;
    console.log(`${build}: ${lines[0].openblas}`);
    results.set(build, lines.slice(1));
  }
  fs.rmSync(dir, { recursive: true, force: true });
  const builds = [...results.keys()];
  if (builds.length === 0) return;
  console.log(`native/gemm.c dispatched to ${isa}; GFLOP/s (fastest of 9 alternating rounds of ~20 ms); load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  const header = ['shape (M x N x K)', 'ours 1t', ...builds.map((b) => `${b} 1t`), 'ours 2t', ...builds.map((b) => `${b} 2t`), 'best 1t', 'best 2t'];
  const lines: string[][] = [header];
  const first = results.get(builds[0]) as Row[];
  first.forEach((row, i) => {
    // "ours" from the first build's process (each process times ours again; they agree within noise).
    const ours1 = row.ours_1t;
    const ours2 = row.ours_2t;
    const blas1 = builds.map((b) => (results.get(b) as Row[])[i].openblas_1t);
    const blas2 = builds.map((b) => (results.get(b) as Row[])[i].openblas_2t);
    const winner = (ours: number, blas: number[]) => {
      const best = Math.max(...blas);
      return ours >= best ? `ours ${(ours / best).toFixed(2)}x` : `${builds[blas.indexOf(best)]} ${(best / ours).toFixed(2)}x`;
    };
    lines.push([`${SHAPES[i][0]} (${row.m}x${row.n}x${row.k})`, ours1.toFixed(1), ...blas1.map((v) => v.toFixed(1)), ours2.toFixed(1), ...blas2.map((v) => v.toFixed(1)), winner(ours1, blas1), winner(ours2, blas2)]);
  });
  const widths = header.map((_, c) => Math.max(...lines.map((l) => l[c].length)));
  for (const l of lines) console.log(l.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  '));
}

main();
