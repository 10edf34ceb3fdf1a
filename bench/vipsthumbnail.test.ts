import { describe, expect, it } from 'vitest';
import { parseTimes } from './vipsthumbnail.ts';

describe('parseTimes', () => {
  it("adds the children's user and system time from bash's times", () => {
    expect(parseTimes('0m0.003s 0m0.000s\n0m2.060s 0m0.292s\n')).toBeCloseTo(2.352);
    expect(parseTimes('0m0.003s 0m0.000s\n1m2.500s 0m0.500s')).toBeCloseTo(63);
  });

  it('refuses output that is not times', () => {
    expect(() => parseTimes('vipsthumbnail: unable to open file')).toThrow(/unexpected output of times/);
  });
});
