import { describe, expect, it } from 'vitest';
import { CelError, compile } from './cel.ts';

const source = { file: { path: '/srv' } };

describe('CEL subset', () => {
  it.each([
    ['(has(self.file) ? 1 : 0) + (has(self.s3) ? 1 : 0) + (has(self.http) ? 1 : 0) == 1', source, true],
    ['(has(self.file) ? 1 : 0) + (has(self.s3) ? 1 : 0) == 1', { file: {}, s3: {} }, false],
    ['!(has(self.value) && has(self.valueFrom))', { value: 'a', valueFrom: {} }, false],
    ['!has(self.valueFrom) || (has(self.valueFrom.a) ? 1 : 0) + (has(self.valueFrom.b) ? 1 : 0) == 1', { valueFrom: { a: 1 } }, true],
    ['!has(self.valueFrom) || (has(self.valueFrom.a) ? 1 : 0) + (has(self.valueFrom.b) ? 1 : 0) == 1', {}, true],
    ["self.all(e, !(e.name in ['A', 'B']))", [{ name: 'C' }, { name: 'D' }], true],
    ["self.all(e, !(e.name in ['A', 'B']))", [{ name: 'C' }, { name: 'B' }], false],
    ['self.exists_one(x, x > 2) && self.exists(x, x == 1) && size(self) == 3 && self.size() == 3', [1, 2, 3], true],
    ['self.filter(x, x % 2 == 1).map(x, x * 10) == [10, 30]', [1, 2, 3], true],
    ["self.name.startsWith('img-') && self.name.endsWith('x') && self.name.contains('-') && self.name.matches('^[a-z-]+$')", { name: 'img-x' }, true],
    ['self.min <= self.max && -self.min < 0 && self.max / 2 == 2', { min: 1, max: 5 }, true],
    ["'k' in self && self['k'] == 'v' && {'a': 1}['a'] == 1", { k: 'v' }, true],
    ['self.isSorted() && self.sum() == 60 && self.min() == 10 && self.max() == 30', [10, 20, 30], true],
    ['self.isSorted()', [10, 30, 20], false],
    // A missing field errors, but && and || let the other side decide, as in CEL.
    ['self.missing == 1 || true', {}, true],
  ])('%s on %j is %s', (rule, self, expected) => {
    expect(compile(rule)({ self })).toBe(expected);
  });

  it('reports evaluation errors', () => {
    expect(() => compile('self.missing == 1')({ self: {} })).toThrow(CelError);
    expect(() => compile('self.a + 1')({ self: { a: 'x' } })).toThrow('no such overload');
  });

  it.each([['self.duration(1)'], ['oldSelf == self'], ['self.map(1, 2)'], ['has(self)'], ['1 +'], ['"open']])('does not compile %s', (rule) => {
    expect(() => compile(rule)).toThrow(CelError);
  });
});
