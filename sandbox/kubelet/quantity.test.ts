import { describe, expect, it } from 'vitest';
import { divideCeil, QuantityError, toNano } from './quantity.ts';

describe('quantities', () => {
  it.each([
    ['1', 1_000_000_000n],
    ['500m', 500_000_000n],
    ['1.5', 1_500_000_000n],
    ['2k', 2_000_000_000_000n],
    ['1Ki', 1024_000_000_000n],
    ['1e3', 1000_000_000_000n],
    ['1n', 1n],
    [2, 2_000_000_000n],
  ])('%s is %s nano-units', (q, nano) => expect(toNano(q)).toBe(nano));

  it.each([
    ['500m', '1', 1n], // rounds up, like the real Downward API
    ['1500m', '1', 2n],
    ['500m', '1m', 500n],
    ['256Mi', '1Mi', 256n],
    ['256Mi', '1', 268435456n],
    ['1Gi', '1M', 1074n],
    ['2', '1', 2n],
  ])('ceil(%s / %s) = %s', (q, d, want) => expect(divideCeil(q, d)).toBe(want));

  it('refuses what is not a quantity', () => {
    expect(() => toNano('12 cores')).toThrow(QuantityError);
    expect(() => divideCeil('1', '0')).toThrow(QuantityError);
  });
});
