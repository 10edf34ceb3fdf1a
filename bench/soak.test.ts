import { describe, expect, it } from 'vitest';
import { leakedHandles, rssByMinute, rssTrend, soakConnections } from './soak.ts';

const MiB = 2 ** 20;
const minutes = (n: number, rssMiB: (m: number) => number) => Array.from({ length: n * 12 }, (_, i) => ({ atMs: i * 5_000, rssBytes: rssMiB(i / 12) * MiB }));

describe('rssTrend', () => {
  it('finds no trend in RSS that wobbles around a level', () => {
    const t = rssTrend(
      minutes(10, (m) => 150 + 8 * Math.sin(m * 7)),
      60_000,
    );
    expect(t.upward).toBe(false);
    expect(Math.abs(t.slopeMiBPerMinute)).toBeLessThan(0.5);
    expect(t.peakMiB).toBeCloseTo(158, 0);
  });

  it('calls a steady climb an upward trend, and measures it', () => {
    const t = rssTrend(
      minutes(10, (m) => 150 + 2 * m + Math.sin(m * 7)),
      60_000,
    );
    expect(t.upward).toBe(true);
    expect(t.slopeMiBPerMinute).toBeCloseTo(2, 0);
    expect(t.lastMinuteMiB - t.firstMinuteMiB).toBeGreaterThan(14);
  });

  it('ignores the warm-up: a first minute of growth to the working size is no trend', () => {
    expect(
      rssTrend(
        minutes(10, (m) => (m < 1 ? 60 + 90 * m : 150)),
        60_000,
      ).upward,
    ).toBe(false);
  });

  it('needs samples after the warm-up', () => {
    expect(() =>
      rssTrend(
        minutes(1, () => 100),
        60_000,
      ),
    ).toThrow(/at least 3 samples/);
  });
});

describe('leakedHandles', () => {
  it('lists the resource types with more active after the load than before, and only those', () => {
    expect(leakedHandles({ TCPServerWrap: 1, TCPSocketWrap: 1, Timeout: 2 }, { TCPServerWrap: 1, TCPSocketWrap: 3, Timeout: 1, FSReqCallback: 1 })).toEqual([
      { type: 'FSReqCallback', before: 0, after: 1 },
      { type: 'TCPSocketWrap', before: 1, after: 3 },
    ]);
    expect(leakedHandles({ TCPServerWrap: 1 }, { TCPServerWrap: 1 })).toEqual([]);
  });
});

describe('soakConnections', () => {
  it('offers twice the capacity when every request lasts the queue timeout', () => {
    expect(soakConnections(27, 5000)).toBe(270);
    expect(soakConnections(0.01, 5000)).toBe(1);
  });
});

describe('rssByMinute', () => {
  it('gives the floor, mean and top of each minute', () => {
    const samples = [0, 30_000, 60_000, 90_000].map((atMs, i) => ({ atMs, rssBytes: [100, 120, 110, 130][i]! * MiB }));
    expect(rssByMinute(samples)).toEqual([
      { minute: 0, minMiB: 100, meanMiB: 110, maxMiB: 120 },
      { minute: 1, minMiB: 110, meanMiB: 120, maxMiB: 130 },
    ]);
  });
});
