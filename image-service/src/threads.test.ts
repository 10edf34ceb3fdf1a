import { describe, expect, it } from 'vitest';
import { cpuLimit, memoryLimit, parseCpuMax, parseProcCgroup, resolveThreads, workersFor } from './threads.ts';

describe('cgroup CPU limit', () => {
  it.each([
    ['max 100000', null],
    ['max', null],
    ['150000 100000', 1.5],
    ['50000 100000\n', 0.5],
    ['200000 50000', 4],
    ['100000', 1],
    ['', null],
    ['garbage 100000', null],
    ['-1 100000', null],
    ['100000 0', null],
  ])('parseCpuMax(%j) = %j', (text, cpus) => {
    expect(parseCpuMax(text)).toBe(cpus);
  });

  it.each([
    [{ cpuMax: [] }, null],
    [{ cpuMax: ['max 100000'] }, null],
    [{ cpuMax: ['250000 100000', 'max 100000'] }, 2.5],
    [{ cpuMax: ['max 100000', '150000 100000', '400000 100000'] }, 1.5], // the tightest ancestor binds
    [{ cpuMax: [], cfs: [{ quotaUs: '-1\n', periodUs: '100000\n' }] }, null],
    [{ cpuMax: [], cfs: [{ quotaUs: '150000\n', periodUs: '100000\n' }] }, 1.5],
    [{ cpuMax: [], cfs: [{ quotaUs: '50000', periodUs: '100000' }] }, 0.5],
    [{ cpuMax: [], cfs: [{ quotaUs: '300000' }] }, 3],
    // v1 also walks up: an unlimited own cgroup under a limited parent is limited
    [{ cpuMax: [], cfs: [{ quotaUs: '-1', periodUs: '100000' }, { quotaUs: '100000', periodUs: '100000' }, { quotaUs: '-1' }] }, 1],
    [
      {
        cpuMax: [],
        cfs: [
          { quotaUs: '50000', periodUs: '100000' },
          { quotaUs: '300000', periodUs: '100000' },
        ],
      },
      0.5,
    ],
    [{ cpuMax: ['200000 100000'], cfs: [{ quotaUs: '100000', periodUs: '100000' }] }, 2], // v2 wins when present
  ])('cpuLimit(%j) = %j', (files, cpus) => {
    expect(cpuLimit(files)).toBe(cpus);
  });

  it.each([
    [null, 8, 8],
    [null, 0, 1],
    [1.5, 8, 1],
    [0.5, 8, 1],
    [2.9, 8, 2],
    [16, 4, 4], // never above the CPUs the process may run on
    [4, 4, 4],
  ])('workersFor(%j, %j) = %j', (limit, cpus, workers) => {
    expect(workersFor(limit, cpus)).toBe(workers);
  });

  it.each([
    [{ cpuMax: [] }, null],
    [{ cpuMax: [], memoryMax: ['max\n'] }, null],
    [{ cpuMax: [], memoryMax: ['536870912\n', 'max'] }, 536870912],
    [{ cpuMax: [], memoryMax: ['max', '1073741824', '536870912'] }, 536870912], // the tightest ancestor binds
    [{ cpuMax: [], memoryLimitInBytes: ['268435456\n'] }, 268435456],
    [{ cpuMax: [], memoryLimitInBytes: ['9223372036854771712\n'] }, null], // v1's "no limit"
    [{ cpuMax: [], memoryMax: ['536870912'], memoryLimitInBytes: ['268435456'] }, 536870912], // v2 wins when present
    [{ cpuMax: [], memoryMax: ['garbage'] }, null],
  ])('memoryLimit(%j) = %j', (files, bytes) => {
    expect(memoryLimit(files)).toBe(bytes);
  });

  it('parses /proc/self/cgroup for v2 and v1', () => {
    expect(parseProcCgroup('0::/kubepods/pod1/c1\n')).toEqual({ v2: '/kubepods/pod1/c1', v1: {} });
    expect(parseProcCgroup('12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n1:name=systemd:/docker/abc\n')).toEqual({
      v1: {
        memory: { controllers: 'memory', path: '/docker/abc' },
        cpu: { controllers: 'cpu,cpuacct', path: '/docker/abc' },
        cpuacct: { controllers: 'cpu,cpuacct', path: '/docker/abc' },
        'name=systemd': { controllers: 'name=systemd', path: '/docker/abc' },
      },
    });
    expect(parseProcCgroup('')).toEqual({ v1: {} });
  });
});

/** glibc's thresholds as the service sets them unless told otherwise: 32 MiB. */
const THRESHOLDS = { MALLOC_MMAP_THRESHOLD_: '33554432', MALLOC_TRIM_THRESHOLD_: '33554432' };

describe('resolveThreads', () => {
  it.each([
    [{}, undefined, 1.5, 8, { workers: 1, workersFrom: 'cgroup', env: { UV_THREADPOOL_SIZE: '2', VIPS_CONCURRENCY: '1', MALLOC_ARENA_MAX: '1', ...THRESHOLDS } }],
    [{}, undefined, null, 2, { workers: 2, workersFrom: 'cpus', env: { UV_THREADPOOL_SIZE: '3', VIPS_CONCURRENCY: '1', MALLOC_ARENA_MAX: '2', ...THRESHOLDS } }],
    [{}, 4, 1, 2, { workers: 4, workersFrom: 'IMAGE_SERVICE_WORKERS', env: { UV_THREADPOOL_SIZE: '5', VIPS_CONCURRENCY: '1', MALLOC_ARENA_MAX: '2', ...THRESHOLDS } }],
    [
      { UV_THREADPOOL_SIZE: '16', VIPS_CONCURRENCY: '2', MALLOC_ARENA_MAX: '4', MALLOC_MMAP_THRESHOLD_: '131072', MALLOC_TRIM_THRESHOLD_: '' },
      undefined,
      3,
      8,
      {
        workers: 3,
        workersFrom: 'cgroup',
        env: { UV_THREADPOOL_SIZE: '16', VIPS_CONCURRENCY: '2', MALLOC_ARENA_MAX: '4', MALLOC_MMAP_THRESHOLD_: '131072', MALLOC_TRIM_THRESHOLD_: '33554432' },
      },
    ],
  ])('env %j, workers %j, limit %j, cpus %j', (vars, workers, limit, cpus, expected) => {
    expect(resolveThreads(vars, workers, limit, cpus)).toEqual(expected);
  });
});
