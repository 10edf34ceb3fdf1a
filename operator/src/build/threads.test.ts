import { describe, expect, it } from 'vitest';
import { resolveThreads } from '../../../image-service/src/threads.ts';
import { type ImageServiceSpec, validateSpec } from '../api/image-service.ts';
import { deriveThreads, threadEnv } from './threads.ts';

const spec = (extra: Record<string, unknown>): ImageServiceSpec => {
  const r = validateSpec({ image: 'i:1', source: { file: {} }, ...extra });
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.value;
};
const env = (extra: Record<string, unknown>) => Object.fromEntries(threadEnv(deriveThreads(spec(extra))).map((e) => [e.name, e.value]));

describe('threads from the CPU limit', () => {
  it.each([
    ['no resources', {}, 1, 2],
    ['requests only', { resources: { requests: { cpu: '2' } } }, 2, 3],
    ['250m', { resources: { limits: { cpu: '250m' } } }, 1, 2],
    ['1', { resources: { limits: { cpu: '1' } } }, 1, 2],
    ['1500m', { resources: { limits: { cpu: '1500m' } } }, 1, 2],
    ['2', { resources: { limits: { cpu: 2 } } }, 2, 3],
    ['3500m', { resources: { limits: { cpu: '3500m' } } }, 3, 4],
    ['64', { resources: { limits: { cpu: '64' } } }, 64, 65],
    ['limits over requests', { resources: { requests: { cpu: '1' }, limits: { cpu: '4' } } }, 4, 5],
    ['runtime.workers', { resources: { limits: { cpu: '1' } }, runtime: { workers: 4 } }, 4, 5],
    ['runtime.threadpoolSize', { resources: { limits: { cpu: '2' } }, runtime: { threadpoolSize: 16 } }, 2, 16],
    ['both overrides', { runtime: { workers: 3, threadpoolSize: 3 } }, 3, 3],
    ['null overrides are unset', { resources: { limits: { cpu: '2' } }, runtime: { workers: null, threadpoolSize: null } }, 2, 3],
  ])('%s: %d workers, %d libuv threads', (_name, extra, workers, threadpool) => {
    expect(env(extra)).toMatchObject({
      IMAGE_SERVICE_WORKERS: String(workers),
      UV_THREADPOOL_SIZE: String(threadpool),
      VIPS_CONCURRENCY: '1',
      // one arena for one worker, two for more (docs/benchmarks.md)
      MALLOC_ARENA_MAX: workers === 1 ? '1' : '2',
    });
  });

  it.each([
    ['512Mi', '512Mi', '--max-old-space-size=256'],
    ['1Gi', '1Gi', '--max-old-space-size=512'],
    ['1G', '1G', '--max-old-space-size=476'],
    ['536870912', 536870912, '--max-old-space-size=256'],
    ['none', undefined, undefined],
  ])('memory limit %s: NODE_OPTIONS %s', (_name, memory, nodeOptions) => {
    const e = env(memory === undefined ? { resources: { requests: { memory: '1Gi' } } } : { resources: { limits: { memory } } });
    expect(e.NODE_OPTIONS).toBe(nodeOptions);
  });
});

describe('the operator and the image service apply one thread rule', () => {
  it.each([100, 500, 1000, 1500, 2000, 2900, 3500, 8000, 64000])('a CPU limit of %dm: the env the operator writes is what the service derives itself', (millicores) => {
    const cpus = millicores / 1000;
    const written = env({ resources: { limits: { cpu: `${millicores}m` } } });
    const { workers, env: derived } = resolveThreads({}, undefined, cpus, 64);
    // glibc's thresholds are the service's alone; the operator does not write them.
    const { UV_THREADPOOL_SIZE, VIPS_CONCURRENCY, MALLOC_ARENA_MAX } = derived;
    expect(written).toMatchObject({ IMAGE_SERVICE_WORKERS: String(workers), UV_THREADPOOL_SIZE, VIPS_CONCURRENCY, MALLOC_ARENA_MAX });
  });
});
