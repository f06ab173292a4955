import { describe, expect, it } from 'vitest';
import { EVENT_NAMES, RUN_STATUSES, commands, isCommandName, parsePayload, type CommandResult, type ContractEvent } from '../../../src-main/common/contract';

describe('the contract', () => {
  it('names commands by own keys only (no prototype names reach a service)', () => {
    expect(isCommandName('listRuns')).toBe(true);
    expect(isCommandName('toString')).toBe(false);
    expect(isCommandName('__proto__')).toBe(false);
    expect(isCommandName(42)).toBe(false);
  });

  it('applies payload defaults and refuses bad payloads with the field named', () => {
    expect(parsePayload('listRuns', undefined)).toMatchObject({ limit: 50, offset: 0 });
    expect(parsePayload('deleteRun', { runId: 'abcd' })).toEqual({ runId: 'abcd', deleteArtifacts: false });
    expect(() => parsePayload('compareRuns', { runIds: ['a'] })).toThrow(/runIds/);
    expect(() => parsePayload('listRuns', { status: 'finished' })).toThrow(/status/);
  });

  it('validates run statuses against the store records list', () => {
    for (const s of RUN_STATUSES) expect(parsePayload('listRuns', { status: s }).status).toBe(s);
  });

  it('lists every event once, and every command has a schema', () => {
    expect(new Set(EVENT_NAMES).size).toBe(EVENT_NAMES.length);
    expect(EVENT_NAMES).toEqual(['runProgress', 'runFinished', 'runLog', 'fitProgress', 'fitFinished']);
    for (const name of Object.keys(commands)) expect(typeof commands[name as keyof typeof commands].parse).toBe('function');
  });

  it('types events as a union a listener narrows on', () => {
    const seen: string[] = [];
    const listener = (e: ContractEvent) => {
      if (e.name === 'runLog') seen.push(e.payload.message);
      else if (e.name === 'fitProgress') seen.push(`${e.payload.candidates}`);
    };
    listener({ name: 'runLog', payload: { runId: 'r', level: 'info', message: 'hello' } });
    listener({ name: 'fitProgress', payload: { jobId: 'j', message: 'm', candidates: 3 } });
    const reply: CommandResult<'tagRun'> = { tags: ['a'] };
    expect([...seen, ...reply.tags]).toEqual(['hello', '3', 'a']);
  });
});
