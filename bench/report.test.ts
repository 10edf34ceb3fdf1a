import { describe, expect, it } from 'vitest';
import type { ServerCell } from './cell.ts';
import { answers, checkTargets, ratioTable, renderReport, renderThreadStudy, type TargetCheck, workloadTable } from './report.ts';
import type { BenchRun } from './results.ts';
import { runMeta } from './run-meta.testkit.ts';

const MiB = 2 ** 20;

function cell(contender: string, connections: number, okPerSecond: number, extra: Partial<ServerCell> = {}): ServerCell {
  return {
    contender,
    label: contender,
    budget: 1,
    workload: 'jpeg640',
    connections,
    elapsedSeconds: 10,
    okPerSecond,
    statusCounts: { 200: okPerSecond * 10 },
    errors: {},
    okP50Ms: 500,
    okP99Ms: 900,
    okMaxMs: 1000,
    otherP99Ms: undefined,
    peakRssBytes: 150 * MiB,
    cpuSecondsPer1000: 33,
    foreignCpu: 0,
    loadStartedAt: 0,
    attempts: 1,
    rssSamples: [],
    ...extra,
  };
}

function run(servers: ServerCell[]): BenchRun {
  return {
    ...runMeta('compare', '2026-11-22T01:30:00.000Z', '2026-11-22T01:45:00.000Z', 'npm run bench'),
    batches: [{ contender: 'sharp in-process', budget: 1, workload: 'jpeg640', imagesPerSecond: 30, cpuSecondsPer1000: 33, peakRssBytes: 200 * MiB, foreignCpu: 0.02 }],
    servers,
    skipped: [],
  };
}

const verdict = (checks: TargetCheck[], target: string): boolean | undefined => checks.find((c) => c.target.startsWith(target))?.met;

describe('checkTargets', () => {
  it('meets every target when the service is close to the ceiling, lean and only sheds with 503', () => {
    const checks = checkTargets(
      run([
        cell('image-service', 16, 29.5),
        cell('image-service', 256, 29, { statusCounts: { 200: 290, 503: 400 } }),
        cell('image-service', 1000, 28.8, { statusCounts: { 200: 288, 503: 5000 }, peakRssBytes: 190 * MiB }),
        ...[16, 256, 1000].flatMap((n) => [cell('ipx', n, 20), cell('php-imagick', n, 5), cell('php-imagick-hint', n, 9)]),
      ]),
      5000,
    );
    expect(checks.filter((c) => c.met !== true)).toEqual([]);
  });

  it.each([
    ['>= 0.95 of the ceiling at 256', cell('image-service', 256, 28.4)],
    ['peak RSS <= 160 MiB at 256', cell('image-service', 256, 30, { peakRssBytes: 161 * MiB })],
    ['p99 of admitted requests <= queue timeout (5000 ms) at 256', cell('image-service', 256, 30, { okP99Ms: 5200 })],
    ['only 200 and 503 at 256', cell('image-service', 256, 30, { statusCounts: { 200: 300, 500: 1 } })],
    ['only 200 and 503 at 256', cell('image-service', 256, 30, { errors: { timeout: 2 } })],
  ])('fails "%s" on the cell that breaks it', (target, broken) => {
    expect(verdict(checkTargets(run([broken]), 5000), target)).toBe(false);
  });

  it('says "not measured" rather than guessing for cells the run did not take', () => {
    const checks = checkTargets(run([cell('image-service', 16, 30)]), 5000);
    expect(verdict(checks, '>= 1.15x ipx at 16')).toBeUndefined();
    expect(verdict(checks, 'peak RSS <= 200 MiB at 1000')).toBeUndefined();
    expect(verdict(checks, '>= 0.95 of the ceiling at 16')).toBe(true);
  });
});

describe('tables', () => {
  it('puts the service against each baseline at the same connections', () => {
    const text = ratioTable(run([cell('image-service', 16, 30), cell('ipx', 16, 20), cell('naive', 16, 15)]));
    expect(text).toContain('| jpeg640 | 16 | 30.0 | 1.00x | 2.00x | 1.50x | — | — |');
  });

  it('renders the conditions, every workload measured and the targets', () => {
    const text = renderReport(run([cell('image-service', 16, 30)]), 5000);
    expect(text).toContain('load average at start 0.10 0.20 0.30');
    expect(text).toContain('### 2560x1600 JPEG to 640w JPEG q80');
    expect(text).toContain('| sharp in-process | 1 | — | 30.0 | 1.00x | — | — | — | — | 200 | 33.0 | 2% |');
    expect(text).toContain('### Targets');
  });

  it('shows the spread of a cell measured several times beside its median', () => {
    const text = workloadTable(run([cell('image-service', 16, 28.4, { runs: [29.1, 27.6, 28.4] })]), 'jpeg640');
    expect(text).toContain('| 16 | 28.4 (27.6-29.1) | 0.95x |');
  });

  it('lists answers by status and says none when there were none', () => {
    expect(answers({ 503: 7, 200: 3 })).toBe('200: 3, 503: 7');
    expect(answers({})).toBe('none');
  });
});

describe('renderThreadStudy', () => {
  const meta = { ...run([]), scenario: 'threads' };
  const measured = (workers: number, okPerSecond: number, peakMiB: number, allocator?: { label: string; env: Record<string, string> }) => ({
    candidate: { budget: 1, processes: 1, settings: { workers, threadpool: workers + 1, vipsConcurrency: 1, arenaMax: workers === 1 ? 1 : 2 }, allocator },
    cell: cell('image-service', 256, okPerSecond, { peakRssBytes: peakMiB * MiB }),
  });

  it("keeps the thread rule's derivation when it ties on throughput and is the leanest", () => {
    const text = renderThreadStudy({ ...meta, study: { screen: [], confirm: [measured(1, 30, 150), measured(2, 30.5, 190)] } });
    expect(text).toContain("At 1 CPU the data keeps the thread rule's derivation (w1 uv2 vips1 arena1)");
  });

  it('names the better setting and the numbers when the thread rule loses, and tables allocators apart', () => {
    const text = renderThreadStudy({
      ...meta,
      study: { screen: [], confirm: [measured(1, 20, 150), measured(2, 30, 190), measured(1, 20, 140, { label: 'jemalloc', env: {} })] },
    });
    expect(text).toContain("At 1 CPU the data prefers w2 uv3 vips1 arena2 to the thread rule's w1 uv2 vips1 arena1: 30.0 against 20.0 images/s, peak RSS 190 against 150 MiB");
    expect(text).toContain('| w1 uv2 vips1 arena1 jemalloc | 20.0 |');
  });
});
