import { describe, expect, it } from 'vitest';
import { CelError, compile, toCel } from './cel.ts';

const source = { file: { path: '/srv' } };
const run = (rule: string, self: unknown, oldSelf?: unknown) => compile(rule)({ self: toCel(undefined, self), ...(oldSelf === undefined ? {} : { oldSelf: toCel(undefined, oldSelf) }) });

describe("CEL with the API server's libraries", () => {
  it.each([
    ['(has(self.file) ? 1 : 0) + (has(self.s3) ? 1 : 0) + (has(self.http) ? 1 : 0) == 1', source, true],
    ['(has(self.file) ? 1 : 0) + (has(self.s3) ? 1 : 0) == 1', { file: {}, s3: {} }, false],
    ['!(has(self.value) && has(self.valueFrom))', { value: 'a', valueFrom: {} }, false],
    ["self.all(e, !(e.name in ['A', 'B']))", [{ name: 'C' }, { name: 'B' }], false],
    ['self.exists_one(x, x > 2) && self.exists(x, x == 1) && size(self) == 3 && self.size() == 3', [1, 2, 3], true],
    ['self.filter(x, x % 2 == 1).map(x, x * 10) == [10, 30]', [1, 2, 3], true],
    ["self.name.startsWith('img-') && self.name.matches('^[a-z-]+$')", { name: 'img-x' }, true],
    ['self.isSorted() && self.sum() == 60 && self.min() == 10 && self.max() == 30', [10, 20, 30], true],
    ['self.isSorted()', [10, 30, 20], false],
    // A missing field errors, but && and || let the other side decide, as in CEL.
    ['self.missing == 1 || true', {}, true],
    // Kubernetes' quantity library, with the examples of its documentation
    ["quantity('200M').compareTo(quantity('0.2G')) == 0 && quantity('50M').compareTo(quantity('50Mi')) == -1", null, true],
    ["quantity('150Mi').isGreaterThan(quantity('100Mi')) && quantity('50M').isLessThan(quantity('100M'))", null, true],
    ["isQuantity('1.3G') && isQuantity('10000k') && !isQuantity('200K') && !isQuantity('Three') && !isQuantity('1,3G')", null, true],
    ["quantity('50.703k').asApproximateFloat() == 50703.0", null, true],
    ["quantity('-1').sign() == -1 && quantity('0').sign() == 0 && quantity('1500m') == quantity('1.5')", null, true],
    // int-or-string: string() gives the quantity's text either way
    ['quantity(string(self.requests)).compareTo(quantity(string(self.limits))) <= 0', { requests: '500m', limits: 1 }, true],
    ['quantity(string(self.requests)).compareTo(quantity(string(self.limits))) <= 0', { requests: 2, limits: '1' }, false],
    // durations are CEL's own, in Go's syntax
    ["duration(self) > duration('0s') && duration(self) <= duration('24h')", '1h30m', true],
    ["duration(self) > duration('0s')", '0s', false],
    // a transition rule sees the stored value
    ['self >= oldSelf', 3, true],
  ])('%s on %j is %s', (rule, self, expected) => {
    expect(run(rule, self, rule.includes('oldSelf') ? 2 : undefined)).toBe(expected);
  });

  it('types values by the schema: integer as int, number as double even when whole', () => {
    const schema = { type: 'object', properties: { n: { type: 'number' }, i: { type: 'integer' } } };
    expect(toCel(schema, { n: 2, i: 2, x: 3 })).toEqual({ n: 2, i: 2n, x: 3n });
    expect(compile('self.n < 2.5 && self.i < 3')({ self: toCel(schema, { n: 2, i: 2 }) })).toBe(true);
  });

  it('reports evaluation errors', () => {
    expect(() => run('self.missing == 1', {})).toThrow(CelError);
    expect(() => run("quantity('10Mo') == quantity('1')", null)).toThrow(/must match the regular expression/);
    expect(() => run("quantity('10Mm') == quantity('1')", null)).toThrow(/unable to parse quantity's suffix/);
  });

  it('marks transition rules', () => {
    expect(compile('oldSelf == self').transition).toBe(true);
    expect(compile("self != 'oldSelf'").transition).toBe(false);
  });

  it.each([['self.duration(1)'], ['nope(self)'], ['other == self'], ['self.map(1, 2)'], ['1 +'], ['"open'], ["quantity('1').add(1)"], ["quantity('1').isInteger()"]])('does not compile %s', (rule) => {
    expect(() => compile(rule)).toThrow(CelError);
  });
});
