/** The `topiary fit` and `topiary profiles` commands, end to end through the CLI. */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtinProfile } from '../../src-main/common/profiles';
import { lenet5 } from '../../src-main/engine/models';
import { saveModel } from '../../src-main/node/models';
import { syntheticMnist } from './fit-fixtures';

const home = fs.mkdtempSync(path.join(os.tmpdir(), 'topiary-fit-cli-'));
const mcu = builtinProfile('mcu-cortex-m4')!;
const dataDir = path.join(home, 'data');
const modelDir = path.join(home, 'model');

beforeAll(async () => {
  syntheticMnist(dataDir, 40, 20);
  const model = lenet5({ seed: 1 });
  await saveModel(model, modelDir);
  model.dispose();
});
afterAll(() => fs.rmSync(home, { recursive: true, force: true }));

const root = path.resolve(__dirname, '..', '..');
function topiary(args: string[]) {
  const r = spawnSync(process.execPath, [path.join(root, 'bin', 'topiary.mjs'), ...args], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, TOPIARY_HOME: path.join(home, 'cli'), TOPIARY_BACKEND: 'wasm', CI: '1' },
    timeout: 120_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('topiary profiles / fit commands', () => {
  it('profiles: duplicate a built-in, export, edit, re-import, delete; built-ins refuse deletion', () => {
    const dup = topiary(['profiles', 'duplicate', 'mcu-cortex-m4', 'my-mcu', '--json']);
    expect(dup.code, dup.stderr).toBe(0);
    expect(JSON.parse(dup.stdout).id).toBe('my-mcu');
    const file = path.join(home, 'my-mcu.json');
    expect(topiary(['profiles', 'export', 'my-mcu', '--out', file]).code).toBe(0);
    const edited = { ...JSON.parse(fs.readFileSync(file, 'utf8')), supportedOps: mcu.supportedOps.filter((o) => o !== 'SOFTMAX') };
    fs.writeFileSync(file, JSON.stringify(edited));
    expect(topiary(['profiles', 'import', file, '--replace']).code).toBe(0);
    const list = JSON.parse(topiary(['profiles', 'list', '--json']).stdout) as { id: string; builtin: boolean }[];
    expect(list.find((p) => p.id === 'my-mcu')?.builtin).toBe(false);

    const del = topiary(['profiles', 'delete', 'mcu-cortex-m4']);
    expect(del.code).toBe(2);
    expect(del.stderr).toContain('ConfigError: profile mcu-cortex-m4 is built in and cannot be deleted');

    const bad = path.join(home, 'bad.json');
    fs.writeFileSync(bad, '{"id": "x", "ramBytes": ');
    const imp = topiary(['profiles', 'import', bad]);
    expect(imp.code).toBe(2);
    expect(imp.stderr).toContain(`ConfigError: ${bad}: not valid JSON`);
  });

  it('fit --json reports an unsupported op with its layer name and exits 1', () => {
    const r = topiary(['fit', modelDir, '--profile', 'my-mcu', '--latency-runs', '0', '--json']);
    expect(r.code, r.stderr).toBe(1);
    const report = JSON.parse(r.stdout);
    expect(report.fits).toBe(false);
    expect(report.unsupportedOps).toEqual([expect.objectContaining({ layer: 'fc3', className: 'Dense', ops: ['SOFTMAX'] })]);
    expect(report.constraints.find((c: { constraint: string }) => c.constraint === 'ops').passed).toBe(false);
  });

  it('fit --auto says early that an unsupported op cannot be pruned away (no run is started)', () => {
    const r = topiary(['fit', modelDir, '--profile', 'my-mcu', '--auto', '--data', `idx:${dataDir}`, '--json']);
    expect(r.code, r.stderr).toBe(1);
    const out = JSON.parse(r.stdout);
    expect(out.feasible).toBe(false);
    expect(out.reason).toContain('fc3 (Dense): SOFTMAX');
    expect(out.runId).toBeNull();
    expect(out.candidates).toHaveLength(1);
  });
});
