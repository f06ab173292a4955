import { describe, expect, it } from 'vitest';
import { clearFilters, DEFAULT_COLUMNS, DEFAULT_VIEW, fromDisplay, hasFilters, historyQuery, historyViewParams, parseHistoryView, toDisplay } from '../../../src-main/common/run-search';

describe('History view in the URL', () => {
  it('an untouched view is a plain #/runs (no params)', () => {
    expect(historyViewParams({ ...DEFAULT_VIEW, columns: [...DEFAULT_COLUMNS] })).toBe('');
    expect(parseHistoryView('')).toEqual(DEFAULT_VIEW);
  });

  it('round-trips text, filters, ranges, sort, page and columns', () => {
    const params = 'q=mnist+tiny&status=done&profile=mcu&method=taylor&from=2026-01-01&to=2026-02-01&where=accuracy%3E%3D0.9&where=sizeBytes%3C%3D102400&sort=metric%3Aaccuracy&dir=asc&page=3&cols=name%2Caccuracy';
    const view = parseHistoryView(params);
    expect(view).toMatchObject({
      text: 'mnist tiny', status: 'done', profile: 'mcu', method: 'taylor', from: '2026-01-01', to: '2026-02-01',
      where: [{ name: 'accuracy', op: '>=', value: 0.9 }, { name: 'sizeBytes', op: '<=', value: 102400 }],
      sort: 'metric:accuracy', dir: 'asc', page: 2, columns: ['name', 'accuracy'],
    });
    expect(parseHistoryView(historyViewParams(view))).toEqual(view);
  });

  it('ignores what does not parse instead of failing to open', () => {
    const view = parseHistoryView('status=bogus&sort=DROP TABLE&where=accuracy~~1&where=x>=abc&page=-4&from=yesterday&cols=name,nope');
    expect(view).toMatchObject({ status: '', sort: 'created', where: [], page: 0, from: '', columns: ['name'] });
  });

  it('knows when filters narrow the list, and clears them keeping sort and columns', () => {
    const view = parseHistoryView('q=x&sort=name&cols=name');
    expect(hasFilters(view)).toBe(true);
    const cleared = clearFilters(view);
    expect(hasFilters(cleared)).toBe(false);
    expect(cleared).toMatchObject({ sort: 'name', columns: ['name'], text: '' });
    // An unfinished range (no value typed yet) filters nothing.
    expect(hasFilters({ ...DEFAULT_VIEW, where: [{ name: 'accuracy', op: '>=', value: Number.NaN }] })).toBe(false);
  });

  it('builds the listRuns query: paging, the whole `to` day, only finished ranges', () => {
    const q = historyQuery({ ...parseHistoryView('q=%20a%20&to=2026-03-04&page=2'), where: [{ name: 'accuracy', op: '>=', value: 0.8 }, { name: 'mae', op: '<=', value: Number.NaN }] }, 25);
    expect(q).toMatchObject({ text: 'a', offset: 25, limit: 25, metrics: [{ name: 'accuracy', op: '>=', value: 0.8 }] });
    expect(Date.parse(q.until as string)).toBe(new Date(2026, 2, 5).getTime());
    expect(q).not.toHaveProperty('since');
  });

  it('range values are typed in percent and KiB', () => {
    expect(fromDisplay('accuracy', 90)).toBeCloseTo(0.9);
    expect(fromDisplay('sizeBytes', 100)).toBe(102400);
    expect(toDisplay('accuracy', 0.9)).toBe(90);
    expect(toDisplay('latencyMs', 1.5)).toBe(1.5);
  });
});
