/**
 * LeNet-5 training throughput (batch 64, Adam) on wasm vs cpu, measured in one run.
 * Run: npx tsx test/bench/train-backends.ts [wasmBatches=20] [cpuBatches=3]
 * The machine is shared: read the ratio, not the absolute numbers.
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src-main/node/backend';
import { buildModel, trainThroughput } from './bench-models';

const BATCH = 64;

async function measure(backend: 'wasm' | 'cpu', batches: number): Promise<number> {
  await initBackend({ force: backend });
  const model = buildModel('lenet-5');
  const rate = await trainThroughput(model, BATCH, batches);
  model.dispose();
  return rate;
}

async function main(): Promise<void> {
  const wasmBatches = Number(process.argv[2] ?? 20);
  const cpuBatches = Number(process.argv[3] ?? 3);
  const wasm = await measure('wasm', wasmBatches);
  const cpu = await measure('cpu', cpuBatches);
  console.log(`LeNet-5 training, batch ${BATCH}, Adam, tfjs ${tf.version.tfjs}`);
  console.log(`  wasm: ${wasm.toFixed(1)} samples/s (${wasmBatches} batches)`);
  console.log(`  cpu:  ${cpu.toFixed(1)} samples/s (${cpuBatches} batches)`);
  console.log(`  wasm/cpu: ${(wasm / cpu).toFixed(1)}x`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
