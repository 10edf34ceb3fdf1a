import { describe, expect, it } from 'vitest';
import { expandPreset, parsePresets } from './presets.ts';

describe('parsePresets', () => {
  it('accepts the design example and absent values', () => {
    expect(parsePresets('{"thumb": {"w": 200, "h": 200, "fit": "cover"}, "hero": {"w": 1600, "q": 70, "fm": "webp"}}')).toEqual({
      thumb: { w: 200, h: 200, fit: 'cover' },
      hero: { w: 1600, q: 70, fm: 'webp' },
    });
    expect(parsePresets(undefined)).toEqual({});
    expect(parsePresets('  ')).toEqual({});
  });

  it.each([
    ['{not json', /^not valid JSON/],
    ['[]', /^\(top level\)/],
    ['{"thumb": {"w": 0}}', /^thumb\.w: /],
    ['{"thumb": {"w": 1.5}}', /thumb\.w/],
    ['{"thumb": {"q": 101}}', /thumb\.q/],
    ['{"thumb": {"fit": "stretch"}}', /thumb\.fit/],
    ['{"thumb": {"fm": "bmp"}}', /thumb\.fm/],
    ['{"thumb": {"width": 10}}', /thumb.*width/],
    ['{"bad name": {"w": 10}}', /preset names/],
  ])('refuses %s with a message naming the field', (raw, message) => {
    expect(() => parsePresets(raw)).toThrow(message);
  });
});

describe('expandPreset', () => {
  const presets = parsePresets('{"thumb": {"w": 200, "h": 200, "fit": "cover"}, "q60": {"q": 60}}');
  const expand = (q: string) => expandPreset(new URLSearchParams(q), presets).toString();

  it.each([
    ['w=10', 'w=10'],
    ['preset=thumb', 'w=200&h=200&fit=cover'],
    ['preset=thumb&w=100&fm=webp', 'w=100&fm=webp&h=200&fit=cover'],
    ['fit=inside&preset=thumb', 'fit=inside&w=200&h=200'],
  ])('%s -> %s', (query, expected) => {
    expect(expand(query)).toBe(expected);
  });

  it.each([
    ['preset=nope', /unknown preset "nope"; known: thumb, q60/],
    ['preset=__proto__', /unknown preset/],
    ['preset=thumb&preset=q60', /more than once/],
  ])('refuses %s with 400', (query, message) => {
    let err: unknown;
    try {
      expand(query);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ status: 400, message: expect.stringMatching(message) });
  });
});
