import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../../src-main/common/errors';
import { readBundle } from '../../../../src-main/app/history/bundle';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'topiary-bundle-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const run = (over: Record<string, unknown> = {}) => ({ id: 'run-1', model: { sha256: 'ab' }, config: {}, metrics: [], layers: [], artifacts: [], tags: [], ...over });
const bundle = (over: Record<string, unknown> = {}) => ({ format: 'topiary-run-bundle', version: 1, exportedAt: 'now', host: 'h', runs: [{ run: run(), artifactFiles: [] }], ...over });

/** The ConfigError message readBundle gives for `data` written as bundle.json. */
function problem(data: unknown): string {
  const file = path.join(dir, 'bundle.json');
  fs.writeFileSync(file, typeof data === 'string' ? data : JSON.stringify(data));
  try {
    readBundle(file);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message.slice(file.length + 2);
  }
  throw new Error('expected a ConfigError');
}

describe('the run bundle schema', () => {
  it('reads a well-formed bundle as written, extra fields included', () => {
    const file = path.join(dir, 'ok.json');
    fs.writeFileSync(file, JSON.stringify(bundle({ runs: [{ run: run({ name: 'x' }), artifactFiles: [] }] })));
    expect(readBundle(file).runs[0].run).toMatchObject({ id: 'run-1', name: 'x' });
  });

  it('names the whole-file problems', () => {
    expect(problem('{oops')).toMatch(/^run bundle is not valid JSON/);
    expect(problem({ format: 'zip' })).toBe('not a Topiary run bundle (format is "zip")');
    expect(problem(bundle({ version: 2 }))).toBe('run bundle version 2 is not supported (expected 1)');
    expect(problem(bundle({ runs: 3 }))).toBe('run bundle has no runs array');
  });

  it('names the run and field that is wrong', () => {
    expect(problem(bundle({ runs: [{ run: run({ id: undefined }), artifactFiles: [] }] }))).toBe('runs[0].run.id is missing');
    expect(problem(bundle({ runs: [{ run: run({ id: '../../escape' }), artifactFiles: [] }] }))).toBe('runs[0].run.id "../../escape" is not a valid run id');
    expect(problem(bundle({ runs: [{ run: run({ model: undefined }), artifactFiles: [] }] }))).toBe('runs[0].run.model.sha256 is missing');
    expect(problem(bundle({ runs: [{ run: run({ config: [] }), artifactFiles: [] }] }))).toBe('runs[0].run.config must be an object');
    expect(problem(bundle({ runs: [{ run: run({ tags: 'a' }), artifactFiles: [] }] }))).toBe('runs[0].run.tags must be an array');
  });

  it('refuses artifact lists that do not match, and paths that leave the bundle', () => {
    expect(problem(bundle({ runs: [{ run: run({ artifacts: [{}] }), artifactFiles: [] }] }))).toBe('runs[0].artifactFiles must list one entry per artifact');
    expect(problem(bundle({ runs: [{ run: run({ artifacts: [{}] }), artifactFiles: ['../../etc/passwd'] }] }))).toBe('runs[0].artifactFiles has an unsafe path "../../etc/passwd"');
    expect(problem(bundle({ runs: [{ run: run({ artifacts: [{}] }), artifactFiles: ['/etc/passwd'] }] }))).toBe('runs[0].artifactFiles has an unsafe path "/etc/passwd"');
  });
});
