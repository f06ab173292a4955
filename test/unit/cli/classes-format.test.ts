import { describe, expect, it } from 'vitest';
import { formatClassDrops } from '../../../src-main/cli/classes-format';
import { classReport } from '../../../src-main/engine/measure';

describe('formatClassDrops', () => {
  it('names the classes that lost most, worst first, with before -> after and the drop in points', () => {
    const r = classReport([[5, 0, 0], [0, 4, 1], [0, 0, 5]], [[5, 0, 0], [2, 2, 1], [0, 1, 4]], ['cat', 'dog', 'owl']);
    const text = formatClassDrops({ classes: r });
    expect(text.split('\n')).toEqual([
      'classes hurt most by pruning (of 15 test samples, 3 classes):',
      '  dog   80.0 % ->  40.0 %  (-40.0 pts)',
      '  owl  100.0 % ->  80.0 %  (-20.0 pts)',
    ]);
  });

  it('says so when no class lost accuracy, labels unnamed classes, and is empty without a report', () => {
    const same = [[2, 0], [0, 2]];
    expect(formatClassDrops({ classes: classReport(same, same) })).toBe('per class (of 4 test samples, 2 classes): no class lost accuracy');
    expect(formatClassDrops({ classes: classReport(same, [[1, 1], [0, 2]]) })).toContain('  class 0  100.0 % ->  50.0 %');
    expect(formatClassDrops({ task: 'regression' })).toBe('');
    expect(formatClassDrops(null)).toBe('');
  });
});
