/**
 * GPU-vs-CPU conformance: one tiny seeded net per layer kind the modern nets use (Dense, Conv2D,
 * DepthwiseConv2D, BatchNormalization, ReLU/ReLU6, Add, MaxPool/AvgPool/GlobalAveragePooling,
 * Flatten) and a MobileNetV2 inverted-residual block that has them together, each trained N Adam
 * steps with half of every kernel masked, on the cpu backend and on the GPU backend.
 */
import * as tf from '@tensorflow/tfjs';
import { compareTraces, startFor, syntheticSplit, trainOn, type CompareCase, type TraceDiff } from './train-compare';

type Layer = tf.layers.Layer;
type Sym = tf.SymbolicTensor;
type Init = ReturnType<typeof tf.initializers.heNormal>;

const CLASSES = 4;
const at = (layer: Layer, x: Sym | Sym[]): Sym => layer.apply(x) as Sym;

/** A model from an input shape and a body; seeds advance per layer so every kernel differs. */
function net(inputShape: number[], body: (x: Sym, k: () => Init) => Sym): () => tf.LayersModel {
  return () => {
    let seed = 11;
    const kernel = (): Init => tf.initializers.heNormal({ seed: seed++ });
    const input = tf.input({ shape: inputShape });
    const head = at(tf.layers.dense({ units: CLASSES, activation: 'softmax', kernelInitializer: kernel() }), body(input, kernel));
    return tf.model({ inputs: input, outputs: head });
  };
}

/** BatchNorm with non-default, seeded parameters and statistics, so all four are exercised. */
function bn(seed: number): Layer {
  const u = (minval: number, maxval: number, s: number) => tf.initializers.randomUniform({ minval, maxval, seed: s });
  return tf.layers.batchNormalization({
    momentum: 0.9,
    gammaInitializer: u(0.5, 1.5, seed),
    betaInitializer: u(-0.2, 0.2, seed + 1),
    movingMeanInitializer: u(-0.1, 0.1, seed + 2),
    movingVarianceInitializer: u(0.5, 1.5, seed + 3),
  });
}

const base = { steps: 5, batchSize: 16, learningRate: 1e-3, sparsity: 0.5 };

/** The cases, by name; `layers` says which layer kinds each one covers. */
export const CONFORMANCE_CASES: (CompareCase & { layers: string[] })[] = [
  {
    ...base,
    name: 'dense',
    layers: ['Dense', 'ReLU'],
    build: net([24], (x, k) => at(tf.layers.dense({ units: 32, activation: 'relu', kernelInitializer: k() }), x)),
  },
  {
    ...base,
    name: 'conv2d',
    layers: ['Conv2D', 'Flatten'],
    build: net([8, 8, 2], (x, k) => at(tf.layers.flatten(), at(tf.layers.conv2d({ filters: 6, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: k() }), x))),
  },
  {
    ...base,
    name: 'conv2d-stride2-valid',
    layers: ['Conv2D'],
    build: net([9, 9, 3], (x, k) => at(tf.layers.flatten(), at(tf.layers.conv2d({ filters: 4, kernelSize: 3, strides: 2, activation: 'relu', kernelInitializer: k() }), x))),
  },
  {
    ...base,
    name: 'depthwise',
    layers: ['DepthwiseConv2D', 'GlobalAveragePooling2D', 'ReLU'],
    build: net([8, 8, 3], (x, k) =>
      at(tf.layers.globalAveragePooling2d({}), at(tf.layers.reLU(), at(tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', depthMultiplier: 2, depthwiseInitializer: k() }), x))),
    ),
  },
  {
    ...base,
    name: 'batchnorm-relu6',
    layers: ['Conv2D', 'BatchNormalization', 'ReLU6', 'GlobalAveragePooling2D'],
    build: net([8, 8, 2], (x, k) =>
      at(tf.layers.globalAveragePooling2d({}), at(tf.layers.reLU({ maxValue: 6 }), at(bn(100), at(tf.layers.conv2d({ filters: 6, kernelSize: 3, padding: 'same', useBias: false, kernelInitializer: k() }), x)))),
    ),
  },
  {
    ...base,
    name: 'residual-add',
    layers: ['Conv2D', 'Add', 'ReLU'],
    build: net([6, 6, 4], (x, k) => {
      const y = at(tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: k() }), x);
      const z = at(tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', kernelInitializer: k() }), y);
      return at(tf.layers.flatten(), at(tf.layers.reLU(), at(tf.layers.add(), [x, z])));
    }),
  },
  {
    ...base,
    name: 'maxpool',
    layers: ['Conv2D', 'MaxPooling2D', 'Flatten'],
    build: net([8, 8, 2], (x, k) => at(tf.layers.flatten(), at(tf.layers.maxPooling2d({ poolSize: 2 }), at(tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: k() }), x)))),
  },
  {
    ...base,
    name: 'avgpool',
    layers: ['Conv2D', 'AveragePooling2D', 'Flatten'],
    build: net([8, 8, 2], (x, k) => at(tf.layers.flatten(), at(tf.layers.averagePooling2d({ poolSize: 2 }), at(tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: k() }), x)))),
  },
  {
    ...base,
    name: 'mbv2-block',
    layers: ['Conv2D', 'BatchNormalization', 'ReLU6', 'DepthwiseConv2D', 'Add', 'GlobalAveragePooling2D', 'Dense'],
    build: net([8, 8, 4], (x, k) => {
      const relu6 = (): Layer => tf.layers.reLU({ maxValue: 6 });
      let y = at(relu6(), at(bn(200), at(tf.layers.conv2d({ filters: 12, kernelSize: 1, useBias: false, kernelInitializer: k() }), x)));
      y = at(relu6(), at(bn(210), at(tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', useBias: false, depthwiseInitializer: k() }), y)));
      y = at(bn(220), at(tf.layers.conv2d({ filters: 4, kernelSize: 1, useBias: false, kernelInitializer: k() }), y));
      return at(tf.layers.globalAveragePooling2d({}), at(tf.layers.add(), [x, y]));
    }),
  },
];

export interface ConformanceResult extends TraceDiff {
  name: string;
  layers: string[];
  steps: number;
  cpuLosses: number[];
  gpuLosses: number[];
  /** Pruned weights that are not exactly 0 after training, on each backend. */
  leaksCpu: number;
  leaksGpu: number;
  pruned: number;
  cpuMs: number;
  gpuMs: number;
}

/**
 * Runs every case (or those named) on the cpu backend and on `gpu`, and leaves `gpu` active.
 * @example const rows = await runConformance('webgl'); rows.every((r) => r.lossRel < 1e-3)
 */
export async function runConformance(gpu: string, names?: string[]): Promise<ConformanceResult[]> {
  const out: ConformanceResult[] = [];
  try {
    for (const c of CONFORMANCE_CASES.filter((x) => !names || names.includes(x.name))) {
      const start = await startFor(c, 5);
      const data = syntheticSplit(start.inputShape, CLASSES, c.steps * c.batchSize, 3);
      const cpu = await trainOn('cpu', c, start, data);
      const gpuTrace = await trainOn(gpu, c, start, data);
      const sum = (t: typeof cpu) => t.maskLeaks.reduce((a, m) => a + m.nonZero, 0);
      out.push({
        name: c.name,
        layers: c.layers,
        steps: c.steps,
        ...compareTraces(cpu, gpuTrace, start),
        cpuLosses: cpu.losses,
        gpuLosses: gpuTrace.losses,
        leaksCpu: sum(cpu),
        leaksGpu: sum(gpuTrace),
        pruned: cpu.maskLeaks.reduce((a, m) => a + m.pruned, 0),
        cpuMs: cpu.ms,
        gpuMs: gpuTrace.ms,
      });
    }
  } finally {
    await tf.setBackend(gpu);
  }
  return out;
}
