/**
 * Peak memory of loading a dataset (default: the full Fashion-MNIST, 60000 + 10000 gzip IDX images)
 * and drawing one pass of batches from it. Samples stay as bytes, so the budget is well under 1 GiB.
 *
 *   npx tsx test/bench/dataset-memory.ts [spec]      (exit code 1 if peak RSS >= 1 GiB)
 */
import { describeDataset, loadDataset } from '../../src-main/node/datasets';

const spec = process.argv[2] ?? 'fashion-mnist';
const MiB = 1024 * 1024;
const baseline = process.memoryUsage().rss;
let peak = baseline;
const timer = setInterval(() => {
  peak = Math.max(peak, process.memoryUsage().rss);
}, 5);

async function main(): Promise<void> {
  const t0 = performance.now();
  const ds = await loadDataset(spec);
  const loadMs = performance.now() - t0;
  const afterLoad = process.memoryUsage().rss;
  // One epoch of 256-sample batches, as training would draw them.
  const t1 = performance.now();
  let checksum = 0;
  const idx = new Int32Array(256);
  for (let start = 0; start < ds.train.size; start += idx.length) {
    const n = Math.min(idx.length, ds.train.size - start);
    for (let i = 0; i < n; i++) idx[i] = start + i;
    const { x } = ds.train.take(idx.subarray(0, n));
    checksum += x[14 * 28 + 14];
    peak = Math.max(peak, process.memoryUsage().rss);
  }
  const epochMs = performance.now() - t1;
  clearInterval(timer);
  // The kernel's high-water mark catches spikes between samples.
  const maxRss = process.resourceUsage().maxRSS * 1024;
  const peakBytes = Math.max(peak, maxRss);
  const summary = describeDataset(ds);
  const result = {
    spec,
    train: summary.trainSize,
    test: summary.testSize,
    sampleShape: summary.sampleShape,
    loadMs: Math.round(loadMs),
    epochTakeMs: Math.round(epochMs),
    rssBaselineMiB: +(baseline / MiB).toFixed(1),
    rssAfterLoadMiB: +(afterLoad / MiB).toFixed(1),
    rssPeakMiB: +(peakBytes / MiB).toFixed(1),
    checksum: +checksum.toFixed(3),
  };
  console.log(JSON.stringify(result, null, 2));
  if (peakBytes >= 1024 * MiB) {
    console.error(`peak RSS ${result.rssPeakMiB} MiB exceeds the 1 GiB budget`);
    process.exitCode = 1;
  }
}

main().catch((err) => {
  clearInterval(timer);
  console.error(err instanceof Error ? `${err.name}: ${err.message}` : err);
  process.exitCode = 2;
});
