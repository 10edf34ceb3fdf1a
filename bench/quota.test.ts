import { describe, expect, it } from 'vitest';
import type { ServerCell } from './cell.ts';
import { contenderFor, defaultSettings, effectiveSettings, type QuotaCell, type QuotaStudy, quotaRatios } from './quota.ts';
import { renderQuota } from './report.ts';
import { runMeta } from './run-meta.testkit.ts';

const MiB = 2 ** 20;

function cell(okPerSecond: number, p99: number, rssMiB: number, throttledSeconds: number): ServerCell {
  return {
    contender: 'x',
    label: 'x',
    budget: 1,
    workload: 'jpeg640',
    connections: 16,
    elapsedSeconds: 10,
    okPerSecond,
    statusCounts: { 200: okPerSecond * 10 },
    errors: {},
    okP50Ms: p99 / 2,
    okP99Ms: p99,
    okMaxMs: p99,
    otherP99Ms: undefined,
    peakRssBytes: rssMiB * MiB,
    cpuSecondsPer1000: 100,
    foreignCpu: 0.05,
    loadStartedAt: 0,
    attempts: 1,
    rssSamples: [],
    cgroupCpu: { usageSeconds: 9.5, periods: 100, throttledPeriods: 80, throttledSeconds },
  };
}

const effective = { workers: 1, workersFrom: 'cgroup', cpuLimit: 1, threadpoolSize: 2, vipsConcurrency: 1, mallocArenaMax: '1' };
const cells: QuotaCell[] = [
  { budget: 1, variant: 'derived', connections: 16, effective, cell: cell(30, 800, 120, 2) },
  {
    budget: 1,
    variant: 'defaults',
    connections: 16,
    effective: { ...effective, workers: 2, workersFrom: 'IMAGE_SERVICE_WORKERS', threadpoolSize: 4, vipsConcurrency: 2, mallocArenaMax: '16' },
    cell: cell(25, 1000, 240, 4),
  },
];
const study: QuotaStudy = { hostCores: 2, serverCpus: '0,1', cgroupVersion: 1, cells };

describe('the quota scenario', () => {
  it('compares against Node and libvips defaults for the host', () => {
    expect(defaultSettings(2)).toMatchObject({ workers: 2, threadpool: 4, vipsConcurrency: 2 });
    expect(defaultSettings(8).arenaMax).toBeGreaterThan(2);
  });

  it('leaves every thread setting to the service in the derived variant', () => {
    const ctx = { repoRoot: process.cwd(), corpusRoot: '/c', host: '127.0.0.1', port: 1, cpus: '0,1', cpuCount: 1 };
    const derived = contenderFor('derived', 2).launch(ctx, '/x').env;
    for (const name of ['IMAGE_SERVICE_WORKERS', 'UV_THREADPOOL_SIZE', 'VIPS_CONCURRENCY', 'MALLOC_ARENA_MAX']) {
      expect(derived).toHaveProperty(name, undefined);
    }
    expect(contenderFor('defaults', 2).launch(ctx, '/x').env).toMatchObject({ IMAGE_SERVICE_WORKERS: '2', UV_THREADPOOL_SIZE: '4', VIPS_CONCURRENCY: '2' });
  });

  it('reads what the service runs with from its log', () => {
    const log = [
      '{"level":30,"msg":"something else"}',
      '{"level":30,"workers":1,"workersFrom":"cgroup","cpuLimit":1,"threadpoolSize":2,"vipsConcurrency":1,"mallocArenaMax":"1","msg":"effective settings"}',
    ].join('\n');
    expect(effectiveSettings(log)).toEqual(effective);
    expect(effectiveSettings('{"msg":"listening"}')).toBeUndefined();
  });

  it('puts derived over defaults as ratios, and both in the report', () => {
    expect(quotaRatios(study)).toEqual([{ budget: 1, connections: 16, throughput: 1.2, p99: 0.8, peakRss: 0.5, throttledSeconds: 0.5 }]);
    const md = renderQuota({
      ...runMeta('quota', '2026-12-06T23:00:00.000Z', '2026-12-06T23:05:00.000Z', 'npm run bench -- --scenario quota'),
      quota: study,
    });
    expect(md).toContain('| 1 CPU | 16 | derived: w1 uv2 vips1 arena1 (from quota 1.0) | 30.0 | 800 | 120 | 80 / 100 | 2.00 | 9.5 | 200: 300 | 5% |');
    expect(md).toContain('| 1 CPU | 16 | defaults: w2 uv4 vips2 arena16 | 25.0 | 1000 | 240 | 80 / 100 | 4.00 |');
    expect(md).toContain('| 1 CPU | 16 | 1.20x | 0.80x | 0.50x | 0.50x |');
  });
});
