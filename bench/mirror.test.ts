import { describe, expect, it } from 'vitest';
import type { LoadCounts } from '../sandbox/demo/load.ts';
import { canaryCpuWrites, type MirrorConfig, type MirrorWindow, pool, roundOrder, spreadOf, summariseMirror, sumSeries } from './mirror.ts';
import { renderMirror } from './report.ts';
import { runMeta } from './run-meta.testkit.ts';

function counts(requests: number, p50Ms: number, p99Ms: number): LoadCounts {
  return { requests, ok: requests, failed: 0, byStatus: { 200: requests }, p50Ms, p99Ms };
}

function window(round: number, config: MirrorConfig, p50Ms: number, p99Ms: number, sandbox: number, mirrored: number): MirrorWindow {
  return { round, config, counts: counts(500, p50Ms, p99Ms), mirrored, lateCopies: 0, canaryWeight: 0, cpu: { sandbox, load: 0.2, primary: 0.3, canary: mirrored === 0 ? 0 : 0.4 } };
}

describe('roundOrder', () => {
  it('rotates the configs so that none always follows another', () => {
    expect([0, 1, 2, 3, 4].map(roundOrder)).toEqual([
      ['none', 'shared', 'weight', 'idle'],
      ['shared', 'weight', 'idle', 'none'],
      ['weight', 'idle', 'none', 'shared'],
      ['idle', 'none', 'shared', 'weight'],
      ['none', 'shared', 'weight', 'idle'],
    ]);
  });
});

describe('canaryCpuWrites', () => {
  const idle = (value: string) => ({ file: 'cpu.idle', value });
  it.each([
    [1, 'weight', [idle('0'), { file: 'cpu.shares', value: '2' }]],
    [1, 'idle', [idle('0'), { file: 'cpu.shares', value: '1024' }, idle('1')]],
    [1, undefined, [idle('0'), { file: 'cpu.shares', value: '1024' }]],
    [2, 'weight', [idle('0'), { file: 'cpu.weight', value: '1' }]],
    [2, 'shared', [idle('0'), { file: 'cpu.weight', value: '100' }]],
  ] as const)('cgroup v%s, %s', (version, config, writes) => {
    expect(canaryCpuWrites(version, config)).toEqual(writes);
  });
});

describe('sumSeries', () => {
  const exposition = [
    '# TYPE istio_requests_total counter',
    'istio_requests_total{reporter="destination",destination_workload="m-canary",response_code="200"} 40',
    'istio_requests_total{reporter="destination",destination_workload="m-canary",response_code="503"} 2',
    'istio_requests_total{reporter="destination",destination_workload="m-primary",response_code="200"} 500',
    'istio_requests_total{reporter="source",destination_workload="m-canary",response_code="503"} 7',
    'istio_request_duration_milliseconds_bucket{le="500",reporter="destination",destination_workload="m-canary"} 30',
  ].join('\n');

  it.each([
    [{ reporter: 'destination', destination_workload: 'm-canary' }, 42],
    [{ destination_workload: 'm-canary' }, 49],
    [{ destination_workload: 'm-primary' }, 500],
    [{ destination_workload: 'other' }, 0],
  ])('sums the counter over the series labelled %j, and no other metric', (labels, sum) => {
    expect(sumSeries(exposition, 'istio_requests_total', labels)).toBe(sum);
  });
});

describe('spreadOf', () => {
  it.each([
    [[], undefined],
    [[3], { median: 3, min: 3, max: 3 }],
    [[4, 1, 3], { median: 3, min: 1, max: 4 }],
    [[4, 1, 3, 2], { median: 2.5, min: 1, max: 4 }],
  ])('%j', (values, spread) => {
    expect(spreadOf(values)).toEqual(spread);
  });
});

describe('pool', () => {
  it('takes percentiles over every request of the windows, and counts those as slow as the canary', () => {
    const latencies = [...Array.from({ length: 997 }, (_, i) => 1 + (i % 10)), 50, 399.9, 400];
    expect(pool('idle', latencies)).toEqual({ config: 'idle', requests: 1000, p50Ms: 5, p99Ms: 10, p999Ms: 399.9, slowerThanCanary: 1 });
  });
});

describe('summariseMirror', () => {
  const windows = [
    window(1, 'none', 2, 20, 0.5, 0),
    window(1, 'shared', 3, 30, 0.7, 500),
    window(1, 'idle', 2, 22, 0.6, 500),
    window(2, 'shared', 4, 60, 0.8, 400),
    window(2, 'idle', 1, 10, 0.6, 500),
    window(2, 'none', 2, 40, 0.5, 0),
  ];

  it("takes each ratio against the same round's window without a mirror", () => {
    const [none, shared, , idle] = summariseMirror({ windows });
    expect(none?.p99Ratio).toEqual({ median: 1, min: 1, max: 1 });
    expect(shared?.p50Ratio).toEqual({ median: 1.75, min: 1.5, max: 2 });
    expect(shared?.p99Ratio).toEqual({ median: 1.5, min: 1.5, max: 1.5 });
    expect(idle?.p50Ratio).toEqual({ median: 0.75, min: 0.5, max: 1 });
    expect(idle?.p99Ratio?.median).toBeCloseTo(0.675);
  });

  it('charges the sandbox CPU above the no-mirror window to the copies', () => {
    const [none, shared, , idle] = summariseMirror({ windows });
    expect(none?.sandboxMsPerRequest).toEqual({ median: 1, min: 1, max: 1 });
    expect(none?.sandboxMsPerCopy).toBeUndefined();
    // Round 1: 200 ms over 500 copies; round 2: 300 ms over 400 copies.
    expect(shared?.sandboxMsPerCopy?.min).toBeCloseTo(0.4);
    expect(shared?.sandboxMsPerCopy?.max).toBeCloseTo(0.75);
    expect(idle?.sandboxMsPerCopy?.median).toBeCloseTo(0.2);
  });

  it('leaves out a round whose no-mirror window is missing', () => {
    const [, shared] = summariseMirror({ windows: windows.filter((w) => !(w.round === 2 && w.config === 'none')) });
    expect(shared?.p50Ratio).toEqual({ median: 1.5, min: 1.5, max: 1.5 });
  });

  it('renders every window and the ratios', () => {
    const markdown = renderMirror({
      ...runMeta('mirror', '2026-12-07T05:00:00.000Z', '2026-12-07T05:05:00.000Z', 'npm run bench -- --scenario mirror'),
      mirror: {
        seconds: 10,
        rounds: 2,
        load: { concurrency: 4, ratePerSecond: 50 },
        cgroupVersion: 1,
        windows,
        pooled: [pool('none', [1, 2, 3, 4]), pool('shared', [2, 4, 6, 8]), pool('idle', [1, 2, 3, 400])],
      },
    });
    expect(markdown.split('\n').filter((l) => /^\| [12] \| /.test(l))).toHaveLength(6);
    expect(markdown).toContain('| 100% mirrored, canary sharing the CPU | 1.75x (1.50-2.00) | 1.50x (1.50-1.50) |');
    expect(markdown).toContain('| 100% mirrored, canary sharing the CPU | 4 | 4.00 | 8.0 | 8.0 | 2.00x | 2.00x | 0 |');
    expect(markdown).toContain('| 100% mirrored, canary in SCHED_IDLE | 4 | 2.00 | 400.0 | 400.0 | 1.00x | 100.00x | 1 |');
  });
});
