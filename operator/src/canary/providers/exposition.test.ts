import { describe, expect, it } from 'vitest';
import { ExpositionError, parseExposition } from './exposition.ts';

describe('parseExposition', () => {
  it('reads names, labels with escapes, special values and timestamps; skips comments', () => {
    const page = [
      '# HELP a_total A counter',
      '# TYPE a_total counter',
      'a_total 3',
      'b{x="1",y="say \\"hi\\"\\\\ \\nbye"} 4.5 1700000000000',
      'c{le="+Inf"} +Inf',
      'd NaN',
      'e{} -Inf',
      '  f{ x="1" , } 1e3  ',
      '',
    ].join('\n');
    expect(parseExposition(page)).toEqual([
      { name: 'a_total', labels: {}, value: 3 },
      { name: 'b', labels: { x: '1', y: 'say "hi"\\ \nbye' }, value: 4.5 },
      { name: 'c', labels: { le: '+Inf' }, value: Number.POSITIVE_INFINITY },
      { name: 'd', labels: {}, value: Number.NaN },
      { name: 'e', labels: {}, value: Number.NEGATIVE_INFINITY },
      { name: 'f', labels: { x: '1' }, value: 1000 },
    ]);
  });

  it('skips unwanted names without parsing their labels', () => {
    expect(parseExposition('x{broken 1\ny 2', (n) => n === 'y')).toEqual([{ name: 'y', labels: {}, value: 2 }]);
  });

  it.each([
    ['{x="1"} 1', /line 1: no metric name/],
    ['a{x="1" 1', /line 1: expected , or }/],
    ['a{x="1} 1', /unterminated label value/],
    ['a{x=1} 1', /label x needs ="value"/],
    ['a{x="\\t"} 1', /bad escape/],
    ['a', /expected a value/],
    ['ok 1\na 1 2 3', /line 2: expected a value/],
    ['a one', /"one" is not a sample value/],
  ])('refuses %j', (page, message) => {
    expect(() => parseExposition(page)).toThrow(ExpositionError);
    expect(() => parseExposition(page)).toThrow(message);
  });
});
