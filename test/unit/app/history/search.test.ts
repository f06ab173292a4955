import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HistoryService } from '../../../../src-main/app/history/service';
import { RunQuerySchema } from '../../../../src-main/common/contract/commands';
import { historyQuery, parseHistoryView } from '../../../../src-main/common/run-search';
import { openStore, type Store } from '../../../../src-main/store/db';
import { searchTerms } from '../../../../src-main/store/reader';
import { seedModelAndDataset, tempDir } from '../../store/helpers';

/** The History screen's path: URL params -> view -> listRuns payload (validated as the front door does) -> service. */
function find(history: HistoryService, params: string): string[] {
  const payload = RunQuerySchema.parse(historyQuery(parseHistoryView(params), 50));
  return history.list(payload as never).items.map((r) => r.name ?? r.id);
}

describe('finding runs in the history (text search, filters, sort)', () => {
  let store: Store;
  let history: HistoryService;

  beforeEach(() => {
    store = openStore(path.join(tempDir('topiary-search-'), 'topiary.db'));
    history = new HistoryService(store);
    const { modelId, datasetId } = seedModelAndDataset(store);
    const other = store.writer.upsertModel({ source: '/models/keyword-spotter/model.json', sha256: 'sha-kws', format: 'tfjs-layers', params: 500 });
    const speech = store.writer.upsertDataset({ source: 'npz:/data/speech-commands.npz', sampleShape: [49, 10, 1], classNames: ['yes', 'no'], trainSize: 100, testSize: 20 });
    const w = store.writer;
    const specs = [
      { name: 'alpha baseline', method: 'magnitude', profile: 'mcu', acc: 0.91, size: 200_000, tags: ['baseline'], note: null, model: modelId },
      { name: 'bravo sparse', method: 'taylor', profile: 'edge', acc: 0.85, size: 90_000, tags: ['candidate', 'q4-review'], note: 'shipped to the kiosk', model: modelId },
      { name: 'charlie tiny', method: 'magnitude/structured', profile: 'mcu', acc: 0.7, size: 40_000, tags: ['candidate'], note: null, model: other, data: speech },
    ];
    for (const s of specs) {
      const id = w.createRun({ config: {}, modelId: s.model, datasetId: 'data' in s ? s.data : datasetId, backend: 'cpu', versions: {}, kind: 'prune', method: s.method, profileId: s.profile, name: s.name });
      w.setSummary(id, { before: {}, after: { accuracy: s.acc, sizeBytes: s.size, shippedBytes: s.size / 4 } });
      w.setRunStatus(id, 'done');
      w.tag(id, ...s.tags);
      if (s.note) w.setNote(id, s.note);
    }
    const failed = w.createRun({ config: {}, modelId, backend: 'cpu', versions: {}, kind: 'prune', method: 'random', name: 'delta broken' });
    w.setRunStatus(failed, 'failed', 'boom');
  });
  afterEach(() => store.close());

  it('text search matches name, tag, note, model, data and method, case-insensitively', () => {
    expect(find(history, 'q=BRAVO')).toEqual(['bravo sparse']);
    expect(find(history, 'q=q4-review')).toEqual(['bravo sparse']); // a tag
    expect(find(history, 'q=kiosk')).toEqual(['bravo sparse']); // the note
    expect(find(history, 'q=keyword-spotter')).toEqual(['charlie tiny']); // the model's path
    expect(find(history, 'q=taylor')).toEqual(['bravo sparse']); // the method
    expect(find(history, 'q=speech-commands')).toEqual(['charlie tiny']); // the dataset
    expect(find(history, 'q=nothing-like-this')).toEqual([]);
  });

  it('every word must match, quotes keep a phrase together, and LIKE wildcards are literal', () => {
    expect(find(history, 'q=candidate magnitude')).toEqual(['charlie tiny']);
    expect(find(history, `q=${encodeURIComponent('"sparse bravo"')}`)).toEqual([]);
    expect(find(history, `q=${encodeURIComponent('"bravo sparse"')}`)).toEqual(['bravo sparse']);
    expect(find(history, 'q=%25')).toEqual([]);
    expect(find(history, 'q=_')).toEqual([]);
    expect(searchTerms(' a  "b c"  d ')).toEqual(['a', 'b c', 'd']);
  });

  it('filters by device profile, status, method and metric ranges together with text', () => {
    expect(find(history, 'profile=mcu').sort()).toEqual(['alpha baseline', 'charlie tiny']);
    expect(find(history, 'status=failed')).toEqual(['delta broken']);
    // A method matches each of its granularities (runs record `magnitude/structured`).
    expect(find(history, 'method=magnitude').sort()).toEqual(['alpha baseline', 'charlie tiny']);
    expect(find(history, 'method=magn')).toEqual([]);
    expect(find(history, 'method=magnitude&profile=mcu&where=accuracy>=0.8')).toEqual(['alpha baseline']);
    expect(find(history, 'where=sizeBytes<=100000').sort()).toEqual(['bravo sparse', 'charlie tiny']);
    expect(find(history, 'q=candidate&where=sizeBytes<=100000&where=accuracy>=0.8')).toEqual(['bravo sparse']);
    expect(find(history, 'q=alpha&status=failed')).toEqual([]);
  });

  it('a date range includes both of its days and excludes runs outside it', () => {
    const today = new Date();
    const day = (d: Date) => `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
    const tomorrow = new Date(today.getFullYear(), today.getMonth(), today.getDate() + 1);
    expect(find(history, `from=${day(today)}&to=${day(today)}`)).toHaveLength(4);
    expect(find(history, `from=${day(tomorrow)}`)).toEqual([]);
    expect(find(history, 'to=2001-01-01')).toEqual([]);
  });

  it('sorts by name, profile and a final metric in either direction, runs lacking the metric last', () => {
    expect(find(history, 'sort=name&dir=asc')).toEqual(['alpha baseline', 'bravo sparse', 'charlie tiny', 'delta broken']);
    expect(find(history, 'sort=name')).toEqual(['delta broken', 'charlie tiny', 'bravo sparse', 'alpha baseline']);
    expect(find(history, 'sort=metric:accuracy&dir=asc')).toEqual(['charlie tiny', 'bravo sparse', 'alpha baseline', 'delta broken']);
    expect(find(history, 'sort=metric:shippedBytes')).toEqual(['alpha baseline', 'bravo sparse', 'charlie tiny', 'delta broken']);
    expect(find(history, 'sort=profile&dir=asc').slice(0, 1)).toEqual(['bravo sparse']); // edge < mcu
  });
});
