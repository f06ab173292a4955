import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ProfileService } from '../../../src-main/app/profile-service';
import { ConfigError } from '../../../src-main/common/errors';
import { BUILTIN_PROFILE_IDS, builtinProfile } from '../../../src-main/common/profiles';
import { openStore, type Store } from '../../../src-main/store/db';

let dir: string;
let store: Store;
let profiles: ProfileService;

const board = (id = 'my-board', ramBytes = 128 * 1024) => {
  const { builtin: _b, ...p } = builtinProfile('mcu-cortex-m4')!;
  return { ...p, id, name: 'My board', ramBytes };
};

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'topiary-profiles-'));
  store = openStore(path.join(dir, 'topiary.db'));
  profiles = new ProfileService(store);
});
afterEach(() => {
  store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('ProfileService', () => {
  it('lists the built-ins, then user profiles', () => {
    profiles.create(board());
    const list = profiles.list();
    expect(list.map((p) => p.id)).toEqual([...BUILTIN_PROFILE_IDS, 'my-board']);
    expect(list.find((p) => p.id === 'my-board')!.builtin).toBe(false);
    expect(list.find((p) => p.id === 'mcu-cortex-m4')!.builtin).toBe(true);
  });

  it('built-ins cannot be edited or deleted, only duplicated', () => {
    expect(() => profiles.update('mcu-cortex-m4', { ...board('mcu-cortex-m4') })).toThrow(ConfigError);
    expect(() => profiles.update('mcu-cortex-m4', { ...board('mcu-cortex-m4') })).toThrow(/built in and cannot be edited; duplicate it/);
    expect(() => profiles.delete('edge-coral')).toThrow(/cannot be deleted/);
    expect(() => profiles.create(board('desktop-cpu'))).toThrow(/built in/);
    const copy = profiles.duplicate('mcu-cortex-m4');
    expect(copy.id).toBe('mcu-cortex-m4-copy');
    expect(copy.builtin).toBeUndefined();
    expect(profiles.duplicate('mcu-cortex-m4').id).toBe('mcu-cortex-m4-copy-2');
    const edited = profiles.update(copy.id, { ...copy, ramBytes: 64 * 1024 });
    expect(profiles.get(copy.id).ramBytes).toBe(64 * 1024);
    expect(edited.ramBytes).toBe(64 * 1024);
    expect(profiles.get('mcu-cortex-m4').ramBytes).toBe(256 * 1024);
  });

  it('a user profile cannot claim to be built in', () => {
    const p = profiles.create({ ...board(), builtin: true });
    expect(p.builtin).toBeUndefined();
    expect(profiles.list().find((x) => x.id === 'my-board')!.builtin).toBe(false);
  });

  it('create refuses a taken id; update refuses a different id in the body', () => {
    profiles.create(board());
    expect(() => profiles.create(board())).toThrow(/already exists/);
    expect(() => profiles.update('my-board', board('other'))).toThrow(/does not match/);
  });

  it('invalid profile JSON on import is a ConfigError naming the file', () => {
    expect(() => profiles.importJson('{ nope', '/x/board.json')).toThrow(ConfigError);
    expect(() => profiles.importJson('{ nope', '/x/board.json')).toThrow(/\/x\/board\.json: not valid JSON/);
    expect(() => profiles.importJson(JSON.stringify({ ...board(), storageBytes: 'big' }), '/x/board.json')).toThrow(/\/x\/board\.json: invalid profile: storageBytes/);
    expect(profiles.has('my-board')).toBe(false);
  });

  it('export then import round-trips, and --replace overwrites', () => {
    profiles.create(board());
    const text = profiles.exportJson('my-board');
    profiles.delete('my-board');
    expect(profiles.importJson(text, 'f.json')).toEqual(profiles.get('my-board'));
    const bigger = JSON.stringify({ ...JSON.parse(text), ramBytes: 999_999 });
    expect(() => profiles.importJson(bigger, 'f.json')).toThrow(/already exists/);
    expect(profiles.importJson(bigger, 'f.json', { replace: true }).ramBytes).toBe(999_999);
    expect(JSON.parse(profiles.exportJson('mcu-cortex-m4')).builtin).toBeUndefined();
  });

  it('persists across store reopen', () => {
    profiles.create(board());
    store.close();
    store = openStore(path.join(dir, 'topiary.db'));
    profiles = new ProfileService(store);
    expect(profiles.get('my-board').ramBytes).toBe(128 * 1024);
  });

  it('unknown ids are a ConfigError naming the known ones', () => {
    expect(() => profiles.get('nope')).toThrow(/unknown profile "nope" \(known: mcu-cortex-m4, /);
    expect(() => profiles.delete('nope')).toThrow(/unknown profile/);
  });

  it('deleting a profile a run used keeps the run reference; the profile is gone from the list', () => {
    profiles.create(board());
    const modelId = store.writer.upsertModel({ source: 'demo', sha256: 'abc', format: 'tfjs', params: 1 });
    store.writer.createRun({ config: {}, modelId, profileId: 'my-board', backend: 'cpu', versions: {}, kind: 'prune' });
    expect(profiles.delete('my-board')).toEqual({ deleted: true, keptForRuns: 1 });
    expect(profiles.has('my-board')).toBe(false);
    expect(profiles.list().map((p) => p.id)).not.toContain('my-board');
    expect(store.reader.getProfile('my-board')).toMatchObject({ id: 'my-board', definition: null });
  });

  it('a run naming a built-in does not turn it into a user profile', () => {
    const modelId = store.writer.upsertModel({ source: 'demo', sha256: 'abc', format: 'tfjs', params: 1 });
    store.writer.createRun({ config: {}, modelId, profileId: 'mcu-cortex-m4', backend: 'cpu', versions: {}, kind: 'prune' });
    expect(profiles.list().filter((p) => p.id === 'mcu-cortex-m4')).toHaveLength(1);
  });
});
