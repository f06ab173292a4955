/**
 * Per-class accuracy, confusion matrices and the model graph through the CLI: a short real run of
 * the demo records them (runs show --json), the report names the classes hurt most, evaluate --json
 * carries them, and a regressor's run has none.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeRegressionFixture } from './regression-fixture';
import { cliIn } from '../support/cli';

const home = fs.mkdtempSync(path.join(os.tmpdir(), 'topiary-classes-'));

const topiary = cliIn(home);

const sum = (m: number[][]) => m.flat().reduce((a, b) => a + b, 0);

describe('per-class results through the CLI', { timeout: 300_000 }, () => {
  it('a structured run of the demo records per-class accuracy, confusion and the graph; runs show --json carries them', () => {
    const run = topiary([
      'prune', 'demo', '--data', 'demo', '--granularity', 'structured', '--sparsity', '0.5', '--epochs', '1',
      '--max-samples', '500', '--eval-limit', '300', '--no-sensitivity',
    ]);
    expect(run.code, run.stderr).toBe(0);
    // The text report names the classes that lost most (or says none did).
    expect(run.stdout).toMatch(/classes hurt most by pruning \(of 300 test samples, 10 classes\)|no class lost accuracy/);
    const id = /Run ([0-9a-f-]{36})/.exec(run.stdout)![1];

    const shown = topiary(['runs', 'show', id, '--json']);
    expect(shown.code, shown.stderr).toBe(0);
    const { classes, graph, before, after } = JSON.parse(shown.stdout).summary;
    expect(classes.labels).toEqual(['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot']);
    expect(classes.samples).toBe(300);
    for (const side of [classes.before, classes.after]) {
      expect(side.confusion).toHaveLength(10);
      expect(sum(side.confusion)).toBe(300);
      expect(side.support.reduce((a: number, b: number) => a + b, 0)).toBe(300);
      // Overall accuracy is the diagonal over all samples.
      expect(side.accuracy).toHaveLength(10);
    }
    const diagonal = (m: number[][]) => m.reduce((a, row, i) => a + row[i], 0);
    expect(diagonal(classes.before.confusion) / 300).toBeCloseTo(before.accuracy, 10);
    expect(diagonal(classes.after.confusion) / 300).toBeCloseTo(after.accuracy, 10);

    // Structured pruning halves the hidden widths; the output layer keeps its 10 classes.
    const byName = new Map(graph.nodes.map((n: { name: string }) => [n.name, n]));
    expect(graph.nodes.map((n: { name: string }) => n.name)).toEqual(['conv1', 'pool1', 'conv2', 'pool2', 'flatten', 'fc1', 'fc2', 'fc3']);
    expect(byName.get('conv2')).toMatchObject({ className: 'Conv2D', widthBefore: 16, inputs: ['pool1'] });
    expect((byName.get('conv2') as { widthAfter: number }).widthAfter).toBeLessThan(16);
    expect(byName.get('fc3')).toMatchObject({ widthBefore: 10, widthAfter: 10 });

    // The run's own record in its folder holds the same report.
    const record = JSON.parse(fs.readFileSync(path.join(home, 'runs', id, 'run.json'), 'utf8'));
    expect(record.run.summary.classes.after.confusion).toEqual(classes.after.confusion);
    // And the text of runs show lists the drops too.
    expect(topiary(['runs', 'show', id]).stdout).toMatch(/classes hurt most by pruning|no class lost accuracy/);
  });

  it('evaluate --json carries per-class accuracy and a confusion matrix summing to the samples', () => {
    const r = topiary(['evaluate', 'demo', '--data', 'demo', '--limit', '200', '--latency-runs', '3', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const e = JSON.parse(r.stdout);
    expect(e.classes.labels[6]).toBe('Shirt');
    expect(sum(e.classes.confusion)).toBe(200);
    const correct = e.classes.confusion.reduce((a: number, row: number[], i: number) => a + row[i], 0);
    expect(correct / 200).toBeCloseTo(e.accuracy, 10);
  });

  it('a regressor\'s run has no per-class report but records its graph', async () => {
    const fixture = await writeRegressionFixture(path.join(home, 'fixture'), 300);
    const r = topiary(['prune', fixture.model, '--data', `csv:${fixture.csv}#target=age`, '--epochs', '1', '--no-sensitivity', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const run = JSON.parse(r.stdout);
    expect(run.summary.task).toBe('regression');
    expect(run.summary.classes).toBeUndefined();
    expect(run.summary.graph.nodes.length).toBeGreaterThan(1);
  });
});
