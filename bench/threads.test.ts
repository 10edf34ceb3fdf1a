import { describe, expect, it } from 'vitest';
import type { ServerCell } from './cell.ts';
import { candidateLabel, choose, designDefault, type Measured, sameCandidate, type ThreadCandidate, threadGrid } from './threads.ts';

describe('threadGrid', () => {
  it('spans issue 10 grid at 1 CPU: workers x pool sizes x arenas, VIPS_CONCURRENCY 1 only', () => {
    const grid = threadGrid(1, 16);
    // workers 1: pools 1, 2, 4 x arenas 16, 2, 1 (the operator's); workers 2: 2, 3, 4 and
    // workers 4: 4, 5 (4 twice is one setting) x arenas 16, 2.
    expect(grid).toHaveLength(3 * 3 + 5 * 2);
    expect(new Set(grid.map(candidateLabel)).size).toBe(grid.length);
    expect(grid.every((c) => c.settings.vipsConcurrency === 1 && c.processes === 1)).toBe(true);
    expect(grid.map((c) => c.settings.arenaMax)).toContain(16);
  });

  it('adds VIPS_CONCURRENCY = cores and one process per core at 2 CPUs', () => {
    const grid = threadGrid(2, 16);
    expect(grid).toHaveLength((3 * 3 + 5 * 2) * 2 + 1);
    expect(grid.filter((c) => c.processes === 2).map(candidateLabel)).toEqual(['2x(w1 uv2 vips1 arena1) reusePort']);
  });

  it.each([1, 2])("holds the thread rule's derivation at %d CPU", (budget) => {
    expect(threadGrid(budget).some((c) => sameCandidate(c, designDefault(budget)))).toBe(true);
  });
});

function measured(label: string, okPerSecond: number, peakMiB: number, p99: number): Measured {
  const workers = Number(label);
  const candidate: ThreadCandidate = { budget: 1, processes: 1, settings: { workers, threadpool: workers + 1, vipsConcurrency: 1, arenaMax: 2 } };
  const cell = { okPerSecond, peakRssBytes: peakMiB * 2 ** 20, okP99Ms: p99 } as Partial<ServerCell> as ServerCell;
  return { candidate, cell };
}

describe('choose', () => {
  it.each([
    ['the fastest when nothing else is close', [measured('1', 30, 150, 500), measured('2', 25, 140, 400)], 1],
    ['the leanest among throughputs within 5% of the best', [measured('1', 30, 150, 500), measured('2', 29.5, 120, 900), measured('4', 31, 200, 400)], 2],
    ['the lower p99 when memory ties', [measured('1', 30, 150, 800), measured('2', 30, 150, 300)], 2],
    ['nothing out of nothing', [], undefined],
  ])('picks %s', (_, list, workers) => {
    expect(choose(list)?.candidate.settings.workers).toBe(workers);
  });

  it('keeps the incumbent among ties unless another is leaner by more than 10%', () => {
    const incumbent = measured('1', 30, 150, 500);
    expect(choose([incumbent, measured('2', 30, 140, 400)], incumbent.candidate)?.candidate.settings.workers).toBe(1);
    expect(choose([incumbent, measured('2', 30, 130, 400)], incumbent.candidate)?.candidate.settings.workers).toBe(2);
    expect(choose([measured('1', 20, 100, 500), measured('2', 30, 200, 400)], incumbent.candidate)?.candidate.settings.workers).toBe(2);
  });
});
