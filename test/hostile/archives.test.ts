/**
 * Class 4 of issue 14: zip archives (.npz datasets, .keras models) are checked before and while
 * they are inflated: every member's CRC-32, the declared uncompressed sizes against the archive's
 * size (ratio) and an absolute limit, and the real inflated size against the declared one. Each
 * refusal is a named error naming the file and the member.
 */
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { unzipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { DatasetFormatError, ModelFormatError } from '../../src-main/common/errors';
import { readNpz } from '../../src-main/node/datasets/npy';
import { loadKerasModel } from '../../src-main/node/keras/import';
import { layerWeights, sequentialConfig, writeKeras3 } from '../unit/node/keras/fixtures';
import { npyBytes, npyU8 } from '../unit/node/datasets/fixtures';
import { tempDir, topiary } from './helpers';
import { buildZip, deflatedZeros } from './zip';
import * as tf from '@tensorflow/tfjs';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

function write(name: string, bytes: Uint8Array): string {
  const file = path.join(tempDir('topiary-hostile-zip-'), name);
  fs.writeFileSync(file, bytes);
  return file;
}

async function npzRefusal(file: string): Promise<DatasetFormatError> {
  const err = await readNpz(file, ['x', 'y']).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DatasetFormatError);
  return err as DatasetFormatError;
}

async function kerasRefusal(file: string): Promise<ModelFormatError> {
  const err = await loadKerasModel(file).then(
    (m) => (m.dispose(), undefined),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ModelFormatError);
  return err as ModelFormatError;
}

const x = npyU8([4, 2], [1, 2, 3, 4, 5, 6, 7, 8]);

describe('.npz members are checked', () => {
  it('a corrupted byte in a stored member fails its CRC-32 instead of loading', async () => {
    const zip = buildZip([{ name: 'x.npy', data: x, method: 0 }]);
    const at = Buffer.from(zip).indexOf(Buffer.from(x.subarray(x.length - 8))) + 3;
    zip[at] ^= 0xff; // one pixel of the stored array
    const file = write('corrupt.npz', zip);
    expect((await npzRefusal(file)).message).toMatch(/corrupt\.npz: zip member "x\.npy" fails its CRC-32 check/);
  });

  it('a deflated member whose recorded CRC-32 does not match its content is refused', async () => {
    const file = write('badcrc.npz', buildZip([{ name: 'x.npy', data: x, crc: 0x12345678 }]));
    expect((await npzRefusal(file)).message).toMatch(/zip member "x\.npy" fails its CRC-32 check/);
  });

  it('declared sizes far beyond the archive (a zip bomb) are refused before inflating', async () => {
    // 3 GiB declared in both headers; the bytes themselves are tiny.
    const file = write('bomb.npz', buildZip([{ name: 'x.npy', data: x, declaredSize: 3 * GiB }]));
    const before = process.memoryUsage().rss;
    const err = await npzRefusal(file);
    expect(err.message).toMatch(/bomb\.npz: zip member "x\.npy" declares 3221225472 bytes uncompressed/);
    expect(process.memoryUsage().rss - before).toBeLessThan(64 * MiB);
  });

  it('an honest but extreme compression ratio (200 MiB of zeros in 200 KiB) is refused before inflating', async () => {
    const zeros = await deflatedZeros(200);
    const file = write('ratio.npz', buildZip([{ name: 'x.npy', deflated: zeros, declaredSize: 200 * MiB, crc: 0 }]));
    const err = await npzRefusal(file);
    expect(err.message).toMatch(/ratio\.npz: .*x\.npy.* compression ratio/);
  });

  it('a member that inflates past its declared size is stopped there, memory bounded', async () => {
    const zeros = await deflatedZeros(256);
    const file = write('liar.npz', buildZip([{ name: 'x.npy', deflated: zeros, declaredSize: 1024, crc: 0 }]));
    const before = process.memoryUsage().rss;
    const err = await npzRefusal(file);
    expect(err.message).toMatch(/liar\.npz: zip member "x\.npy" inflates to more than its declared 1024 bytes/);
    expect(process.memoryUsage().rss - before).toBeLessThan(64 * MiB);
  });

  it('CLI: evaluate on a corrupt .npz exits 2 with DatasetFormatError naming file and member', () => {
    const zip = buildZip([
      { name: 'x.npy', data: npyBytes('<f4', [4, 28, 28, 1], new Uint8Array(4 * 784 * 4)), method: 0, crc: 1 },
      { name: 'y.npy', data: npyU8([4], [0, 1, 2, 3]), method: 0 },
    ]);
    const file = write('data.npz', zip);
    const r = topiary(tempDir('topiary-hostile-home-'), ['evaluate', 'demo', '--data', `npz:${file}`]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/DatasetFormatError: .*data\.npz: zip member "x\.npy" fails its CRC-32 check/);
  });
});

describe('.keras archives are checked', () => {
  it('a 3 GiB model.weights.h5 declared in a small .keras is refused before inflating', async () => {
    const file = write('bomb.keras', buildZip([
      { name: 'config.json', data: new TextEncoder().encode('{}') },
      { name: 'model.weights.h5', data: new Uint8Array(1024), declaredSize: 3 * GiB },
    ]));
    const before = process.memoryUsage().rss;
    const err = await kerasRefusal(file);
    expect(err.message).toMatch(/bomb\.keras: zip member "model\.weights\.h5" declares 3221225472 bytes uncompressed/);
    expect(process.memoryUsage().rss - before).toBeLessThan(64 * MiB);
  });

  it('a .keras whose config.json fails its CRC-32 is refused, not loaded', async () => {
    const dir = tempDir('topiary-hostile-keras-');
    const good = path.join(dir, 'good.keras');
    await tf.setBackend('cpu');
    const ref = tf.sequential({ layers: [tf.layers.dense({ units: 2, inputShape: [3], name: 'd' })] });
    await writeKeras3(good, sequentialConfig([3], [{ cls: 'Dense', name: 'd', units: 2, activation: 'linear' }], 'k3'), new Map([['dense', layerWeights(ref).get('d')!]]), dir); // Keras 3 groups weights by class: `dense`
    ref.dispose();
    (await loadKerasModel(good)).dispose(); // the fixture itself loads
    const entries = unzipSync(fs.readFileSync(good));
    const file = write('tampered.keras', buildZip(Object.entries(entries).map(([name, data]) => (name === 'config.json' ? { name, data, crc: 7 } : { name, data }))));
    expect((await kerasRefusal(file)).message).toMatch(/tampered\.keras: zip member "config\.json" fails its CRC-32 check/);
  });
});

describe('gzipped IDX files are checked like zip members', () => {
  it('a .gz IDX whose header declares 256 MiB inflating from a few hundred KiB (a gzip bomb) is refused', async () => {
    const { readIdx } = await import('../../src-main/node/datasets/idx');
    const header = Buffer.alloc(12);
    header.writeUInt32BE(0x00000803, 0); // ubyte, 3 dims
    header.writeUInt32BE(256 * 1024, 4);
    header.writeUInt32BE(32, 8);
    const dims = Buffer.alloc(4);
    dims.writeUInt32BE(32, 0);
    const gz = zlib.createGzip({ level: 9 });
    const chunks: Buffer[] = [];
    gz.on('data', (c: Buffer) => chunks.push(c));
    const ended = new Promise((r) => gz.on('end', r));
    gz.write(Buffer.concat([header, dims]));
    const zeros = Buffer.alloc(MiB);
    for (let i = 0; i < 256; i++) if (!gz.write(zeros)) await new Promise((r) => gz.once('drain', r));
    gz.end();
    await ended;
    const file = write('bomb-images-idx3-ubyte.gz', new Uint8Array(Buffer.concat(chunks)));
    const err = await readIdx(file).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(DatasetFormatError);
    expect((err as Error).message).toMatch(/bomb-images-idx3-ubyte\.gz: header declares 268435456 bytes .* compression ratio over 200x/);
  });
});
