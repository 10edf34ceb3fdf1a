import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { medianBy } from './cell.ts';
import { estimateSeconds, planComparison, runsOf, SERVER_CONTENDERS, serverContender } from './compare.ts';

const defaults = { quick: false, avif: false, connections: undefined, duration: undefined, workloads: undefined, contenders: undefined, repeats: undefined };

describe('planComparison', () => {
  it('measures every contender at 2, 16, 256 and 1000 connections on the primary workload, in under twenty minutes', () => {
    const plan = planComparison(defaults);
    for (const contender of SERVER_CONTENDERS) {
      const conns = plan.steps.filter((s) => s.kind === 'server' && s.contender === contender && s.budget === 1 && s.workload === 'jpeg640');
      expect(conns.map((s) => (s.kind === 'server' ? s.connections : 0))).toEqual([2, 16, 256, 1000]);
    }
    expect(plan.steps.some((s) => s.kind === 'server' && s.contender === 'image-service' && s.budget === 2)).toBe(true);
    expect(new Set(plan.steps.map((s) => s.workload))).toEqual(new Set(['jpeg640', 'webp640', 'large1280']));
    expect(plan.steps.filter((s) => s.kind === 'sharp')).toHaveLength(6);
    expect(estimateSeconds(plan) / 60).toBeLessThanOrEqual(20);
  });

  it('takes the median of three runs for the cells the target ratios divide, once elsewhere', () => {
    const plan = planComparison(defaults);
    const repeated = plan.steps.filter((s) => runsOf(plan, s) === 3).map((s) => `${s.kind === 'server' ? s.contender : s.kind} ${s.budget} ${s.workload}`);
    expect(new Set(repeated)).toEqual(new Set(['sharp 1 jpeg640', 'image-service 1 jpeg640', 'ipx 1 jpeg640']));
    expect(plan.steps.filter((s) => runsOf(plan, s) !== 3).every((s) => runsOf(plan, s) === 1)).toBe(true);
    const quick = planComparison({ ...defaults, quick: true });
    expect(quick.steps.every((s) => runsOf(quick, s) === 1)).toBe(true);
    const asked = planComparison({ ...defaults, quick: true, repeats: 5 });
    expect(asked.steps.filter((s) => s.kind === 'sharp' && s.budget === 1).map((s) => runsOf(asked, s))).toEqual([5]);
  });

  it('keeps --quick to a couple of minutes on the primary workload', () => {
    const plan = planComparison({ ...defaults, quick: true });
    expect(new Set(plan.steps.map((s) => s.workload))).toEqual(new Set(['jpeg640']));
    expect(estimateSeconds(plan) / 60).toBeLessThanOrEqual(3);
  });

  it('adds AVIF only when asked, and follows --contenders, --connections and --duration', () => {
    expect(planComparison(defaults).steps.some((s) => s.workload === 'avif640')).toBe(false);
    expect(planComparison({ ...defaults, avif: true }).steps.some((s) => s.workload === 'avif640')).toBe(true);
    const plan = planComparison({ ...defaults, contenders: ['naive'], connections: [8], duration: 3, workloads: ['webp640'] });
    expect(plan.steps).toEqual([{ kind: 'server', contender: 'naive', budget: 1, workload: 'webp640', connections: 8 }]);
    expect(plan.timing.durationSeconds).toBe(3);
  });

  it('never puts more than 64 connections on the large photograph, which would exhaust memory without admission control', () => {
    const plan = planComparison({ ...defaults, connections: [16, 256], workloads: ['large1280'], contenders: ['naive'] });
    expect(plan.steps.map((s) => (s.kind === 'server' ? s.connections : 0))).toEqual([16]);
  });
});

describe('serverContender', () => {
  it('runs the image service with the settings the operator derives for the budget', () => {
    const repoRoot = fileURLToPath(new URL('..', import.meta.url));
    const ctx = { repoRoot, corpusRoot: '/corpus', host: '127.0.0.1', port: 8080, cpus: '1', cpuCount: 1 };
    const env = serverContender('image-service', 1).launch(ctx, '/x').env;
    expect(env).toMatchObject({
      IMAGE_SERVICE_WORKERS: '1',
      UV_THREADPOOL_SIZE: '2',
      VIPS_CONCURRENCY: '1',
      MALLOC_ARENA_MAX: '1',
      IMAGE_SERVICE_CACHE_BYTES: '0',
      IMAGE_SERVICE_COALESCE: 'false',
    });
    expect(serverContender('image-service', 2).launch(ctx, '/x').env).toMatchObject({ IMAGE_SERVICE_WORKERS: '2', UV_THREADPOOL_SIZE: '3', MALLOC_ARENA_MAX: '2' });
    // As its container runs it: from a compile cache filled before the start.
    expect(readdirSync(env.NODE_COMPILE_CACHE!, { recursive: true }).length).toBeGreaterThan(50);
  });

  it('names the contenders it knows when given another', () => {
    expect(() => serverContender('nginx', 1)).toThrow(/unknown contender "nginx"; known: image-service, naive/);
  });
});

describe('medianBy', () => {
  it.each([
    [[3], 3],
    [[29.1, 27.6, 28.4], 28.4],
    [[1, 4, 2, 3], 3],
  ])('of %j is %d', (values, median) => {
    expect(medianBy(values, (v) => v)).toBe(median);
  });

  it('refuses an empty list', () => {
    expect(() => medianBy([], (v: number) => v)).toThrow(RangeError);
  });
});
