/**
 * A regression fixture built in the test: 8 numeric features -> one float target (abalone-like
 * shape), y = 5 + w . x + uniform noise in [-0.5, 0.5), and an untrained MLP with a linear Dense(1)
 * output (tfjs-examples' abalone model has the same head).
 */
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { seededRandom } from '../../src-main/engine/data';
import { saveModel } from '../../src-main/node/models/save';

export const REGRESSION_WEIGHTS = [1.5, -2, 0.5, 3, -1, 2, 0.25, -0.75];

/** Writes `rows` rows of f1..f8,age (features uniform in [0, 10)) to `file`. */
export function writeRegressionCsv(file: string, rows: number, seed = 3): void {
  const rand = seededRandom(seed);
  const lines = ['f1,f2,f3,f4,f5,f6,f7,f8,age'];
  for (let i = 0; i < rows; i++) {
    const x = REGRESSION_WEIGHTS.map(() => rand() * 10);
    const y = 5 + x.reduce((a, v, j) => a + v * REGRESSION_WEIGHTS[j], 0) + (rand() - 0.5);
    lines.push([...x.map((v) => v.toFixed(3)), y.toFixed(3)].join(','));
  }
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, lines.join('\n') + '\n');
}

/** 8 -> 32 relu -> 16 relu -> 1 linear, seeded initializers. */
export function regressionMlp(): tf.Sequential {
  const init = (seed: number) => tf.initializers.glorotUniform({ seed });
  return tf.sequential({
    name: 'regressor',
    layers: [
      tf.layers.dense({ inputShape: [8], units: 32, activation: 'relu', name: 'h1', kernelInitializer: init(1) }),
      tf.layers.dense({ units: 16, activation: 'relu', name: 'h2', kernelInitializer: init(2) }),
      tf.layers.dense({ units: 1, name: 'age', kernelInitializer: init(3) }),
    ],
  });
}

/** Saves the MLP as a tfjs folder and writes the CSV; returns their paths. */
export async function writeRegressionFixture(dir: string, rows = 800): Promise<{ model: string; csv: string }> {
  const model = regressionMlp();
  const modelDir = path.join(dir, 'model');
  await saveModel(model, modelDir);
  model.dispose();
  const csv = path.join(dir, 'data.csv');
  writeRegressionCsv(csv, rows);
  return { model: modelDir, csv };
}
