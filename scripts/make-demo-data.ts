/**
 * Writes the bundled demo dataset: a stratified, seeded subset of Fashion-MNIST (600 train + 100 test
 * images per class) as gzip IDX files in resources/demo/data/, plus a README naming the source.
 * Needs Debian's dataset-fashion-mnist (or TOPIARY_FASHION_MNIST_DIR). Deterministic: the same input
 * gives byte-identical output.
 *
 *   npx tsx scripts/make-demo-data.ts [--train-per-class 600] [--test-per-class 100] [--seed 7] [--out DIR]
 */
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { permutation } from '../src-main/engine/data';
import { FASHION_MNIST_CLASSES, fashionMnistDir, loadDataset } from '../src-main/node/datasets';
import type { DataSplit } from '../src-main/engine/data';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    'train-per-class': { type: 'string', default: '600' },
    'test-per-class': { type: 'string', default: '100' },
    seed: { type: 'string', default: '7' },
    out: { type: 'string', default: path.join(root, 'resources', 'demo', 'data') },
  },
});
const trainPerClass = Number(values['train-per-class']);
const testPerClass = Number(values['test-per-class']);
const seed = Number(values.seed);
const out = values.out!;

/** Picks `perClass` samples of each class in a seeded order, then sorts them by original index. */
function pick(split: DataSplit & { labels: Int32Array }, perClass: number, s: number): Int32Array {
  const order = permutation(split.size, s);
  const taken = new Array<number>(FASHION_MNIST_CLASSES.length).fill(0);
  const chosen: number[] = [];
  for (const i of order) {
    const c = split.labels[i];
    if (taken[c] < perClass) {
      taken[c]++;
      chosen.push(i);
    }
  }
  return Int32Array.from(chosen.sort((a, b) => a - b));
}

/** IDX bytes: magic 0x0000 08 ndims, big-endian dims, then uint8 values. */
function idx(dims: number[], values: Uint8Array): Uint8Array {
  const header = new DataView(new ArrayBuffer(4 + 4 * dims.length));
  header.setUint32(0, 0x0800 | dims.length, false);
  dims.forEach((d, i) => header.setUint32(4 + 4 * i, d, false));
  const bytes = new Uint8Array(header.byteLength + values.length);
  bytes.set(new Uint8Array(header.buffer));
  bytes.set(values, header.byteLength);
  return bytes;
}

function write(file: string, dims: number[], values: Uint8Array): number {
  // mtime 0 in the gzip header (zlib's default) keeps the output reproducible.
  const gz = zlib.gzipSync(idx(dims, values), { level: 9 });
  fs.writeFileSync(path.join(out, file), gz);
  return gz.length;
}

const ds = await loadDataset('fashion-mnist', { normalize: 'none' });
fs.mkdirSync(out, { recursive: true });
let total = 0;
const counts: Record<string, number> = {};
for (const [name, split, perClass, prefix] of [
  ['train', ds.train, trainPerClass, 'train'],
  ['test', ds.test, testPerClass, 't10k'],
] as const) {
  const chosen = pick(split, perClass, seed + (name === 'train' ? 0 : 1));
  const { x, y } = split.take(chosen);
  total += write(`${prefix}-images-idx3-ubyte.gz`, [chosen.length, 28, 28], Uint8Array.from(x));
  total += write(`${prefix}-labels-idx1-ubyte.gz`, [chosen.length], Uint8Array.from(y));
  counts[name] = chosen.length;
}

fs.writeFileSync(
  path.join(out, 'README.md'),
  `# Demo data: a Fashion-MNIST subset

Source: **Fashion-MNIST** by Zalando Research (https://github.com/zalandoresearch/fashion-mnist),
released under the MIT license (Copyright (c) 2017 Zalando SE). Read from Debian's
\`dataset-fashion-mnist\` package (${fashionMnistDir()}).

Contents (gzip IDX, the original format; 28x28 grayscale, 10 classes):

| file | samples |
| --- | --- |
| train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz | ${counts.train} (${trainPerClass} per class) |
| t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz | ${counts.test} (${testPerClass} per class) |

Classes (label 0-9): ${FASHION_MNIST_CLASSES.join(', ')}.

How it was made: \`npx tsx scripts/make-demo-data.ts\` takes, for each class, the first
${trainPerClass} training and ${testPerClass} test images in a seeded permutation
(engine/data.ts \`permutation\`, seeds ${seed} and ${seed + 1}), keeps them in their original order, and
writes them unchanged. Load with \`loadDataset('demo')\` or \`--data demo\`.
`,
);
console.log(`wrote ${counts.train} train + ${counts.test} test samples to ${out} (${(total / 1e6).toFixed(2)} MB)`);
