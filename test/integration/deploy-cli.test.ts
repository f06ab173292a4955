/**
 * `topiary runs show --json` and the CLI run report answer from the deployed artifact: the headline
 * size is the file the run's profile ships, and the run carries its fit verdict; a fit-to-budget run
 * that pruned nothing is not labelled as if it had pruned.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { bytes } from '../../src-main/common/format';
import { cliIn } from '../support/cli';

const home = fs.mkdtempSync(path.join(os.tmpdir(), 'topiary-deploy-cli-'));

const topiary = cliIn(home, 240_000);

const small = ['--epochs', '1', '--max-samples', '300', '--eval-limit', '200', '--no-sensitivity'];

describe('topiary CLI: shipped size and fit verdict', () => {
  it('a run for mobile-midrange exported as int8 ships the int8 file, and runs show --json carries its fit verdict', () => {
    const text = topiary(['prune', 'demo', '--data', 'demo', ...small, '--profile', 'mobile-midrange', '--export', 'tflite:int8']);
    expect(text.code, text.stderr).toBe(0);
    const id = /runs show ([0-9a-f]{8})/.exec(text.stdout)![1];
    const r = JSON.parse(topiary(['runs', 'show', id, '--json']).stdout);
    const int8 = r.artifacts.find((a: { quant: string }) => a.quant === 'int8');
    expect(r.shipped).toMatchObject({ bytes: int8.bytes, source: 'export', format: 'tflite', quant: 'int8', label: 'int8 .tflite' });
    expect(r.shipped.inMemoryBytes).toBe(r.summary.after.sizeBytes);
    expect(r.summary.after.shippedBytes).toBe(int8.bytes);
    expect(r.fit.profileId).toBe('mobile-midrange');
    expect(r.fit.fits).toBe(true);
    const shipped = r.fit.files.find((f: { shipped: boolean }) => f.shipped);
    expect(shipped.report.constraints.find((c: { constraint: string }) => c.constraint === 'storage').value).toBe(int8.bytes);
    // float32 beside the int8 file, judged on a fresh export.
    expect(r.fit.files.map((f: { quant: string; exported: boolean }) => `${f.quant}:${f.exported}`)).toEqual(['int8:true', 'none:false']);
    // The text report leads with the shipped size and prints the verdict.
    expect(text.stdout).toContain(`size: ${bytes(int8.bytes)} (int8 .tflite); in memory (float32) ${bytes(r.summary.after.sizeBytes)}`);
    expect(text.stdout).toMatch(/Fits Mid-range phone .*\? yes/);
    expect(text.stdout).toMatch(/int8 tflite \(shipped\)\s+\S+ MiB \/ 256\.00 MiB ok/);
    const shown = topiary(['runs', 'show', id]).stdout;
    expect(shown).toContain(`size: ${bytes(int8.bytes)} (int8 .tflite)`);
  }, 240_000);

  it('a stored profile with a tight flash budget: the int8 file does not fit, and the verdict says what to change', () => {
    const profile = JSON.parse(topiary(['profiles', 'show', 'mobile-midrange', '--json']).stdout);
    const file = path.join(home, 'tight-phone.json');
    fs.writeFileSync(file, JSON.stringify({ ...profile, id: 'tight-phone', name: 'Tight phone', builtin: false, storageBytes: 32 * 1024 }));
    expect(topiary(['profiles', 'import', file]).code).toBe(0);
    const r = topiary(['prune', 'demo', '--data', 'demo', ...small, '--profile', 'tight-phone', '--export', 'tflite:int8', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const d = JSON.parse(r.stdout);
    expect(d.fit.profileId).toBe('tight-phone');
    expect(d.fit.fits).toBe(false);
    const int8 = d.fit.files.find((f: { quant: string }) => f.quant === 'int8');
    expect(int8.report.constraints.find((c: { constraint: string }) => c.constraint === 'storage')).toMatchObject({ passed: false, budget: 32 * 1024 });
    expect(int8.advice.join(' ')).toMatch(/storage: .* over the 32\.0 KiB budget: prune about \d+ % of the weights/);
  }, 240_000);

  it('a run without an export says its size is in-memory; fit to budget that prunes nothing says so', () => {
    const plain = topiary(['prune', 'demo', '--data', 'demo', ...small, '--json']);
    expect(plain.code, plain.stderr).toBe(0);
    const p = JSON.parse(plain.stdout);
    expect(p.shipped).toMatchObject({ source: 'in-memory', label: 'in-memory float32 (no export)', bytes: p.summary.after.sizeBytes });
    expect(p.fit).toBeNull();

    const fit = topiary(['fit', 'demo', '--profile', 'desktop-cpu', '--auto', '--data', 'demo', '--epochs', '1', '--max-samples', '300', '--eval-limit', '200', '--json']);
    expect(fit.code, fit.stderr).toBe(0);
    const f = JSON.parse(fit.stdout);
    expect(f.best.allocation).toBe('none');
    const run = JSON.parse(topiary(['runs', 'show', f.runId, '--json']).stdout);
    expect(run.method).toBe('fit to budget: no pruning needed');
    expect(run.fit.fits).toBe(true);
    expect(run.shipped.source).toBe('export');
  }, 240_000);
});
