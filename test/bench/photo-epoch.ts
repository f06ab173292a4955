/**
 * Issue 13's "done when": the default `topiary prune` on a 224x224 MobileNetV2 at batch 32
 * completes an epoch over a folder of photos without crashing, with progress and ETA, and the
 * memory budget: MobileNetV2-0.35 at 224x224 fine-tunes at batch 32 under 4 GB peak RSS.
 *
 * Run as a user would: a folder of phone-like photos (JPEG mostly, some PNG; 640x480, 480x640,
 * 1024x768, 768x1024, two 12-megapixel shots, one of them EXIF-rotated, a panorama, a tiny one, a
 * grey and an RGBA PNG) in `DIR/<class>/` subfolders, written once per seed and count into the
 * temp dir by jpeg-js / pngjs (what images.ts reads them with); the model is Teachable Machine's
 * MobileNetV2-0.35 224x224 Keras .h5 from the real-model corpus (test/fixtures/real-models,
 * tm-keras-waste), or any model given with --model. The bench then starts
 * `bin/topiary.mjs prune <model> --data images:DIR --epochs 1 --batch-size 32 --json` as a child
 * process with every other option at its default (sensitivity scan, before/after evaluation,
 * latency) and its own TOPIARY_HOME, and reports one row:
 *  - wall time of the whole command and of the fine-tuning epoch (first to last `finetune:` line);
 *  - fine-tuning images/s over that span (steps done x batch, capped at the training split);
 *  - peak RSS of the child: VmHWM from /proc/<pid>/status, and the largest sum of VmRSS over the
 *    child and its descendants, sampled every 100 ms;
 *  - whether a progress line with an ETA was printed for the fine-tuning, and the exit code.
 * Which step trained it (native or tfjs, micro-batches) comes from the run's JSON record.
 *
 *   npx tsx test/bench/photo-epoch.ts [--photos 300] [--classes 3] [--seed 7] [--batch 32]
 *        [--model FILE] [--fresh] [--keep]          or   npm run bench -- photo-epoch
 * Exit code 1 when the command fails, prints no ETA, or peaks at 4 GiB or more.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { seededRandom } from '../../src-main/engine/data';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const DEFAULT_MODEL = path.join(root, 'test', 'fixtures', 'real-models', 'models', 'tm-keras-waste', 'keras_model.h5');
const BUDGET_BYTES = 4 * 1024 ** 3;
const MiB = 1024 * 1024;
/** Bump when the generator changes, so a cached folder of an older version is not reused. */
const GENERATOR_VERSION = 1;

function arg(flag: string, fallback: string): string {
  const at = process.argv.indexOf(flag);
  return at >= 0 && at + 1 < process.argv.length ? process.argv[at + 1] : fallback;
}

interface PhotoSpec {
  width: number;
  height: number;
  format: 'jpeg' | 'png-rgb' | 'png-rgba' | 'png-grey';
  /** EXIF orientation written into the JPEG (1: none written). */
  orientation: number;
}

/**
 * The folder's mix: fixed odd ones first (as a phone gallery has them: 12 MP shots, one stored
 * sideways with EXIF orientation 6, a panorama, a thumbnail, PNG screenshots and scans), then common
 * sizes drawn with a seeded generator; about one in ten of those is a PNG.
 */
function photoSpecs(n: number, rand: () => number): PhotoSpec[] {
  const odd: PhotoSpec[] = [
    { width: 4032, height: 3024, format: 'jpeg', orientation: 6 },
    { width: 3024, height: 4032, format: 'jpeg', orientation: 1 },
    { width: 1600, height: 400, format: 'jpeg', orientation: 1 },
    { width: 97, height: 131, format: 'png-rgb', orientation: 1 },
    { width: 512, height: 512, format: 'png-grey', orientation: 1 },
    { width: 800, height: 600, format: 'png-rgba', orientation: 1 },
    { width: 640, height: 480, format: 'jpeg', orientation: 3 },
  ];
  const common: [number, number, number][] = [
    [640, 480, 0.35],
    [480, 640, 0.25],
    [1024, 768, 0.2],
    [768, 1024, 0.1],
    [800, 800, 0.1],
  ];
  const out = odd.slice(0, Math.min(odd.length, n));
  while (out.length < n) {
    let r = rand();
    const [width, height] = common.find(([, , w]) => (r -= w) < 0) ?? common[0];
    const u = rand();
    const format = u < 0.05 ? 'png-rgb' : u < 0.08 ? 'png-rgba' : u < 0.1 ? 'png-grey' : 'jpeg';
    out.push({ width, height, format, orientation: 1 });
  }
  return out;
}

/**
 * A photo-like RGBA image: a vertical sky/ground gradient, a soft-edged blob whose hue and shape
 * depend on the class (so the classes are learnable), a few random discs, and sensor-like noise.
 */
function paint(spec: PhotoSpec, label: number, classes: number, rand: () => number): Uint8Array {
  const { width: w, height: h } = spec;
  const data = new Uint8Array(w * h * 4);
  const hue = (label + 0.3 * rand()) / classes;
  const rgb = (t: number): [number, number, number] => [
    127 + 127 * Math.cos(2 * Math.PI * t),
    127 + 127 * Math.cos(2 * Math.PI * (t - 1 / 3)),
    127 + 127 * Math.cos(2 * Math.PI * (t - 2 / 3)),
  ];
  const [or, og, ob] = rgb(hue);
  const sky = rgb(rand());
  const ground = rgb(rand());
  const cx = w * (0.3 + 0.4 * rand());
  const cy = h * (0.3 + 0.4 * rand());
  const rx = Math.min(w, h) * (0.15 + 0.2 * rand());
  const ry = rx * (label % 2 === 0 ? 1 : 0.5 + rand() * 0.3);
  const discs = Array.from({ length: 4 }, () => ({ x: rand() * w, y: rand() * h, r: Math.min(w, h) * 0.05 * (1 + rand()), c: rgb(rand()) }));
  const horizon = h * (0.4 + 0.3 * rand());
  let noise = Math.floor(rand() * 2 ** 31) | 1;
  for (let y = 0; y < h; y++) {
    const base = y < horizon ? sky : ground;
    const shade = y < horizon ? 0.6 + 0.4 * (y / horizon) : 0.9 - 0.4 * ((y - horizon) / (h - horizon));
    for (let x = 0; x < w; x++) {
      let r = base[0] * shade;
      let g = base[1] * shade;
      let b = base[2] * shade;
      for (const d of discs) {
        const dx = x - d.x;
        const dy = y - d.y;
        if (dx * dx + dy * dy < d.r * d.r) [r, g, b] = d.c;
      }
      const ex = (x - cx) / rx;
      const ey = (y - cy) / ry;
      const inside = 1 - Math.min(1, Math.max(0, (Math.sqrt(ex * ex + ey * ey) - 0.9) * 5));
      r += (or - r) * inside;
      g += (og - g) * inside;
      b += (ob - b) * inside;
      noise ^= noise << 13;
      noise ^= noise >>> 17;
      noise ^= noise << 5;
      const jitter = ((noise & 15) - 7.5) * 1.2;
      const o = (y * w + x) * 4;
      data[o] = Math.max(0, Math.min(255, r + jitter));
      data[o + 1] = Math.max(0, Math.min(255, g + jitter));
      data[o + 2] = Math.max(0, Math.min(255, b + jitter));
      data[o + 3] = spec.format === 'png-rgba' ? 128 + Math.floor((127 * x) / w) : 255;
    }
  }
  return data;
}

/** An APP1 "Exif" segment holding only IFD0 with the Orientation tag (little-endian TIFF). */
function exifApp1(orientation: number): Uint8Array {
  const tiff = [0x49, 0x49, 42, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, orientation, 0, 0, 0, 0, 0, 0, 0];
  const body = [0x45, 0x78, 0x69, 0x66, 0, 0, ...tiff];
  const len = body.length + 2;
  return Uint8Array.from([0xff, 0xe1, len >> 8, len & 255, ...body]);
}

function encode(spec: PhotoSpec, rgba: Uint8Array, quality: number): Uint8Array {
  if (spec.format === 'jpeg') {
    const bytes = new Uint8Array(jpeg.encode({ width: spec.width, height: spec.height, data: rgba }, quality).data);
    if (spec.orientation === 1) return bytes;
    const app1 = exifApp1(spec.orientation);
    const out = new Uint8Array(bytes.length + app1.length);
    out.set(bytes.subarray(0, 2));
    out.set(app1, 2);
    out.set(bytes.subarray(2), 2 + app1.length);
    return out;
  }
  const colorType = spec.format === 'png-grey' ? 0 : spec.format === 'png-rgb' ? 2 : 6;
  const png = new PNG({ width: spec.width, height: spec.height, colorType, inputColorType: 6, bitDepth: 8 });
  png.data = Buffer.from(rgba.buffer, rgba.byteOffset, rgba.byteLength);
  return new Uint8Array(PNG.sync.write(png, { colorType, inputColorType: 6 }));
}

interface Folder {
  dir: string;
  photos: number;
  jpeg: number;
  png: number;
  exifRotated: number;
  bytes: number;
  megapixels: number;
  writeSeconds: number;
  reused: boolean;
}

/** Writes (or reuses, when the same seed, count and classes were written before) the photo folder. */
function makeFolder(n: number, classes: number, seed: number, fresh: boolean): Folder {
  const dir = path.join(os.tmpdir(), `topiary-photo-epoch-v${GENERATOR_VERSION}-s${seed}-n${n}-c${classes}`);
  const manifestFile = path.join(dir, '.manifest.json');
  if (!fresh && fs.existsSync(manifestFile)) return { ...(JSON.parse(fs.readFileSync(manifestFile, 'utf8')) as Folder), reused: true };
  fs.rmSync(dir, { recursive: true, force: true });
  const names = ['bicycle', 'mug', 'plant', 'shoe'].slice(0, classes);
  for (const c of names) fs.mkdirSync(path.join(dir, c), { recursive: true });
  const rand = seededRandom(seed);
  const t0 = performance.now();
  const folder: Folder = { dir, photos: n, jpeg: 0, png: 0, exifRotated: 0, bytes: 0, megapixels: 0, writeSeconds: 0, reused: false };
  photoSpecs(n, rand).forEach((spec, i) => {
    const label = i % classes;
    const bytes = encode(spec, paint(spec, label, classes, rand), 80 + Math.floor(rand() * 15));
    const ext = spec.format === 'jpeg' ? (i % 7 === 0 ? 'JPG' : 'jpg') : 'png';
    fs.writeFileSync(path.join(dir, names[label], `IMG_${String(1000 + i)}.${ext}`), bytes);
    if (spec.format === 'jpeg') folder.jpeg++;
    else folder.png++;
    if (spec.orientation !== 1) folder.exifRotated++;
    folder.bytes += bytes.length;
    folder.megapixels += (spec.width * spec.height) / 1e6;
  });
  folder.writeSeconds = (performance.now() - t0) / 1000;
  fs.writeFileSync(manifestFile, JSON.stringify(folder));
  return folder;
}

/** kB fields of /proc/<pid>/status, NaN when the process is gone. */
function procStatus(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  try {
    const m = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(new RegExp(`${field}:\\s+(\\d+) kB`));
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** The pid and every descendant (from /proc/<pid>/task/<tid>/children). */
function tree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    let tasks: string[] = [];
    try {
      tasks = fs.readdirSync(`/proc/${out[i]}/task`);
    } catch {
      continue;
    }
    for (const t of tasks) {
      try {
        const kids = fs.readFileSync(`/proc/${out[i]}/task/${t}/children`, 'utf8').trim();
        if (kids) out.push(...kids.split(/\s+/).map(Number));
      } catch {
        // the task ended between the two reads
      }
    }
  }
  return out;
}

interface ProgressLine {
  atMs: number;
  done: number;
  total: number;
  eta?: number;
}

interface CommandResult {
  code: number | null;
  signal: string | null;
  wallSeconds: number;
  hwmBytes: number;
  treeRssBytes: number;
  stdout: string;
  stderr: string;
  finetune: ProgressLine[];
  /** Largest sampled VmRSS of the child while each phase (the title of the last progress line) ran. */
  rssByPhase: Map<string, number>;
  /** When each phase's first and last progress lines arrived (ms after the start). */
  phaseTimes: Map<string, { first: number; last: number }>;
}

/** Runs the CLI as a child, sampling its memory and timestamping its progress lines as they arrive. */
function runCli(args: string[], env: NodeJS.ProcessEnv): Promise<CommandResult> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [path.join(root, 'bin', 'topiary.mjs'), ...args], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const res: CommandResult = { code: null, signal: null, wallSeconds: 0, hwmBytes: 0, treeRssBytes: 0, stdout: '', stderr: '', finetune: [], rssByPhase: new Map(), phaseTimes: new Map() };
    let partial = '';
    let phase = 'start';
    child.stdout.on('data', (d: Buffer) => (res.stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      const text = d.toString();
      res.stderr += text;
      process.stderr.write(text);
      const lines = (partial + text).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        phase = line.match(/^([a-z]+): [\d.]+\/\d+ \(/)?.[1] ?? phase;
        const at = performance.now() - t0;
        const seen = res.phaseTimes.get(phase);
        if (seen) seen.last = at;
        else res.phaseTimes.set(phase, { first: at, last: at });
        const m = line.match(/^finetune: (\d+(?:\.\d+)?)\/(\d+) \(\d+%\)(?: ETA (\d+)s)?/);
        if (m) res.finetune.push({ atMs: performance.now() - t0, done: Number(m[1]), total: Number(m[2]), ...(m[3] ? { eta: Number(m[3]) } : {}) });
      }
    });
    const sample = () => {
      if (child.pid === undefined) return;
      res.hwmBytes = Math.max(res.hwmBytes, procStatus(child.pid, 'VmHWM') || 0);
      const sum = tree(child.pid).reduce((a, p) => a + (procStatus(p, 'VmRSS') || 0), 0);
      res.treeRssBytes = Math.max(res.treeRssBytes, sum);
      res.rssByPhase.set(phase, Math.max(res.rssByPhase.get(phase) ?? 0, sum));
    };
    const timer = setInterval(sample, 100);
    child.on('close', (code, signal) => {
      clearInterval(timer);
      res.code = code;
      res.signal = signal;
      res.wallSeconds = (performance.now() - t0) / 1000;
      resolve(res);
    });
  });
}

interface RunJson {
  status?: string;
  backend?: string;
  summary?: {
    training?: { path: string; note?: string; microBatch: number; memoryNote?: string }[];
    before?: { accuracy?: number };
    after?: { accuracy?: number };
  };
  dataset?: { train?: number; test?: number; trainSize?: number; testSize?: number };
}

function trainSize(run: RunJson, photos: number): number {
  const d = run.dataset ?? {};
  return d.train ?? d.trainSize ?? Math.round(photos * 0.8);
}

async function main(): Promise<void> {
  const photos = Number(arg('--photos', '300'));
  const classes = Number(arg('--classes', '3'));
  const seed = Number(arg('--seed', '7'));
  const batch = Number(arg('--batch', '32'));
  const model = arg('--model', DEFAULT_MODEL);
  if (!(classes >= 2 && classes <= 4)) throw new Error(`--classes must be 2..4, got ${classes}`);
  if (!fs.existsSync(model)) throw new Error(`model file not found: ${model}`);
  const load = () => os.loadavg().map((l) => l.toFixed(1)).join(' ');
  console.log(`photo-epoch: ${new Date().toISOString()}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model}), load ${load()}`);

  const folder = makeFolder(photos, classes, seed, process.argv.includes('--fresh'));
  console.log(
    `photos: ${folder.dir} (${folder.reused ? 'reused' : `written in ${folder.writeSeconds.toFixed(1)} s`}): ${folder.photos} files in ${classes} classes, ` +
      `${folder.jpeg} JPEG (${folder.exifRotated} EXIF-rotated), ${folder.png} PNG, ${(folder.bytes / MiB).toFixed(1)} MiB, ${folder.megapixels.toFixed(0)} megapixels`,
  );
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'topiary-photo-epoch-home-'));
  const args = ['prune', model, '--data', `images:${folder.dir}`, '--epochs', '1', '--batch-size', String(batch), '--json'];
  console.log(`command: topiary ${args.join(' ')}   (TOPIARY_HOME=${home})`);
  // The default backend (nothing forced); stderr is a pipe, so progress comes as plain lines.
  const env: NodeJS.ProcessEnv = { ...process.env, TOPIARY_HOME: home };
  delete env.TOPIARY_BACKEND;
  const loadBefore = load();
  const r = await runCli(args, env);
  const loadAfter = load();

  let run: RunJson = {};
  try {
    run = JSON.parse(r.stdout) as RunJson;
  } catch {
    // a failed run prints no JSON; the exit code and stderr say why
  }
  const ft = r.finetune;
  const withEta = ft.filter((p) => p.eta !== undefined);
  const first = ft[0];
  const last = ft[ft.length - 1];
  const trained = trainSize(run, photos);
  const spanS = first && last ? (last.atMs - first.atMs) / 1000 : NaN;
  const images = first && last ? Math.min(last.done * batch, trained) - Math.min(first.done * batch, trained) : NaN;
  const t = run.summary?.training?.[0];
  const peak = Math.max(r.hwmBytes, r.treeRssBytes);

  const cells: [string, string][] = [
    ['photos', String(photos)],
    ['train', String(trained)],
    ['batch', String(batch)],
    ['exit', r.code === null ? `signal ${r.signal}` : String(r.code)],
    ['wall s', r.wallSeconds.toFixed(1)],
    ['epoch s', spanS.toFixed(1)],
    ['images/s', (images / spanS).toFixed(2)],
    ['peak RSS MB', (r.hwmBytes / MiB).toFixed(0)],
    ['tree RSS MB', (r.treeRssBytes / MiB).toFixed(0)],
    ['ETA lines', `${withEta.length}/${ft.length}`],
    ['path', t ? `${t.path}${t.microBatch < batch ? ` micro ${t.microBatch}` : ''}` : '-'],
  ];
  const widths = cells.map(([h, v]) => Math.max(h.length, v.length));
  console.log(cells.map(([h], i) => h.padStart(widths[i])).join('  '));
  console.log(cells.map(([, v], i) => v.padStart(widths[i])).join('  '));
  console.log(
    `epoch s / images/s: first to last "finetune:" progress line (${first ? `${first.done}/${first.total}` : '-'} -> ${last ? `${last.done}/${last.total}` : '-'} steps); ` +
      'peak RSS = the child\'s VmHWM; tree RSS = the largest sampled sum of VmRSS over it and its descendants (every 100 ms).',
  );
  if (t) console.log(`training: ${t.path}${t.note ? ` (${t.note})` : ''}, micro-batch ${t.microBatch}${t.memoryNote ? `; ${t.memoryNote}` : ''}; backend ${run.backend ?? '-'}`);
  if (withEta[0]) console.log(`first ETA line at ${(withEta[0].atMs / 1000).toFixed(1)} s: finetune ${withEta[0].done}/${withEta[0].total}, ETA ${withEta[0].eta}s`);
  if (run.summary?.before || run.summary?.after) console.log(`accuracy before ${run.summary?.before?.accuracy ?? '-'} after ${run.summary?.after?.accuracy ?? '-'} (synthetic photos; not a quality figure)`);
  // A phase runs from the previous phase's last line to its own last line.
  const phases = [...r.phaseTimes];
  const spans = phases.map(([p, t], i) => `${p} ${((t.last - (i > 0 ? phases[i - 1][1].last : 0)) / 1000).toFixed(1)}`);
  console.log(`seconds by phase (previous phase's last progress line to its own last): ${spans.join(', ')}`);
  const prune = r.phaseTimes.get('prune');
  if (prune && first) console.log(`fine-tuning setup + first step: ${((first.atMs - prune.last) / 1000).toFixed(1)} s (last "prune:" line to the first "finetune:" line)`);
  console.log(`peak RSS by phase (MB): ${[...r.rssByPhase].map(([p, b]) => `${p} ${(b / MiB).toFixed(0)}`).join(', ')}`);
  console.log(`load before ${loadBefore}, after ${loadAfter}`);

  const problems: string[] = [];
  if (r.code !== 0) problems.push(`topiary prune exited ${r.code ?? r.signal}: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  if (run.status !== undefined && run.status !== 'done') problems.push(`run status ${run.status}`);
  if (withEta.length === 0) problems.push('no "finetune: d/N (p%) ETA Ns" progress line was printed');
  if (peak >= BUDGET_BYTES) problems.push(`peak RSS ${(peak / MiB).toFixed(0)} MB is over the 4 GiB budget`);
  if (!process.argv.includes('--keep')) fs.rmSync(home, { recursive: true, force: true });
  else {
    fs.writeFileSync(path.join(home, 'prune-stdout.json'), r.stdout);
    fs.writeFileSync(path.join(home, 'prune-stderr.txt'), r.stderr);
    console.log(`kept ${home} (the run's JSON in prune-stdout.json, its progress in prune-stderr.txt)`);
  }
  for (const p of problems) console.log(`FAIL: ${p}`);
  process.exitCode = problems.length ? 1 : 0;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
