import { describe, expect, it } from 'vitest';
import { parsePresets } from './presets.ts';

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
    ['{not json', /IMAGE_SERVICE_PRESETS is not valid JSON/],
    ['[]', /IMAGE_SERVICE_PRESETS \(top level\)/],
    ['{"thumb": {"w": 0}}', /IMAGE_SERVICE_PRESETS thumb\.w: /],
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
