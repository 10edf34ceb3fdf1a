import { describe, expect, it } from 'vitest';
import { DurationError, parseDuration } from './durations.ts';

describe('parseDuration', () => {
  it.each([
    ['30s', 30_000],
    ['1m', 60_000],
    ['1h30m', 5_400_000],
    ['500ms', 500],
    ['1.5s', 1500],
    ['2h', 7_200_000],
    ['1m30s500ms', 90_500],
    ['1500us', 1.5],
    ['1500µs', 1.5],
    ['1000000ns', 1],
    ['24h', 86_400_000],
    ['1439m60s', 86_400_000],
  ])('%s is %d ms', (s, ms) => expect(parseDuration(s)).toBeCloseTo(ms, 9));

  it.each([
    ['', /not a duration/],
    ['30', /not a duration.*unit/],
    ['1d', /not a duration/],
    ['-1s', /not a duration/],
    ['1 m', /not a duration/],
    ['0s', /longer than zero/],
    ['0h0m', /longer than zero/],
    ['0.0000000005s', /longer than zero/], // half a nanosecond truncates to zero, as in Go
    ['24h0m0.000000001s', /at most 24h/],
    ['100000000000000h', /at most 24h/],
  ])('%j is refused', (s, message) => {
    expect(() => parseDuration(s)).toThrow(DurationError);
    expect(() => parseDuration(s)).toThrow(message);
  });
});
