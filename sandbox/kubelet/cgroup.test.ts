import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killRecorded } from '../pids.ts';
import { createCgroup, detectCgroups, type Layout, limitsOf, limitWrites, parseFlatKeyed, planLayout } from './cgroup.ts';

const exec = promisify(execFile);
const REPO = path.resolve(import.meta.dirname, '../..');

describe('cgroup values and layout (pure)', () => {
  it.each([
    [undefined, {}],
    [{ cpu: '500m' }, { cpuQuotaUs: 50_000 }],
    [{ cpu: '1' }, { cpuQuotaUs: 100_000 }],
    [{ cpu: 2 }, { cpuQuotaUs: 200_000 }],
    [{ cpu: '1m' }, { cpuQuotaUs: 1000 }], // the kubelet's 1 ms floor
    [{ cpu: '0.0001' }, { cpuQuotaUs: 1000 }], // rounded up to 1m, then the floor
    [{ memory: '64Mi' }, { memoryBytes: 67_108_864 }],
    [
      { memory: '1G', cpu: '250m' },
      { memoryBytes: 1_000_000_000, cpuQuotaUs: 25_000 },
    ],
    [{ memory: '1.5' }, { memoryBytes: 2 }], // bytes round up
  ])('limitsOf(%j) = %j', (limits, expected) => {
    expect(limitsOf(limits)).toEqual(expected);
  });

  it('writes the limits as v1 and v2 spell them, unset ones as unlimited', () => {
    expect(limitWrites(1, { cpuQuotaUs: 50_000, memoryBytes: 64 })).toEqual([
      { controller: 'cpu', file: 'cpu.cfs_period_us', value: '100000' },
      { controller: 'cpu', file: 'cpu.cfs_quota_us', value: '50000' },
      { controller: 'memory', file: 'memory.limit_in_bytes', value: '64' },
    ]);
    expect(limitWrites(1, {}).map((w) => w.value)).toEqual(['100000', '-1', '-1']);
    expect(limitWrites(2, { cpuQuotaUs: 150_000, memoryBytes: 64 })).toEqual([
      { controller: 'cpu', file: 'cpu.max', value: '150000 100000' },
      { controller: 'memory', file: 'memory.max', value: '64' },
    ]);
    expect(limitWrites(2, {}).map((w) => w.value)).toEqual(['max 100000', 'max']);
  });

  const hybrid = [
    '31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
    '32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu',
    '33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct',
    '35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory',
    '41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
  ].join('\n');
  const hybridSelf = '4:memory:/agent/abc\n2:cpuacct:/\n1:cpu:/\n0::/\n';

  it.each<[string, string, string, string | undefined, Layout | { reason: string }]>([
    [
      'hybrid, cpu and memory on v1',
      hybrid,
      hybridSelf,
      'hugetlb\n',
      { version: 1, parent: { cpu: '/sys/fs/cgroup/cpu', cpuacct: '/sys/fs/cgroup/cpuacct', memory: '/sys/fs/cgroup/memory/agent/abc' } },
    ],
    ['hybrid, cpu and memory on v2', hybrid, hybridSelf, 'cpu memory pids', { version: 2, parent: '/sys/fs/cgroup/unified' }],
    [
      'v2 only, nested',
      '30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate',
      '0::/user.slice/session-1.scope\n',
      'cpuset cpu io memory pids',
      { version: 2, parent: '/sys/fs/cgroup/user.slice/session-1.scope' },
    ],
    [
      'v1 co-mounted cpu,cpuacct inside a container (mount root is the container cgroup)',
      '40 30 0:33 /docker/c1 /sys/fs/cgroup/cpu,cpuacct ro - cgroup cgroup rw,cpu,cpuacct\n41 30 0:34 /docker/c1 /sys/fs/cgroup/memory ro - cgroup cgroup rw,memory',
      '5:cpu,cpuacct:/docker/c1\n3:memory:/docker/c1/x\n',
      undefined,
      { version: 1, parent: { cpu: '/sys/fs/cgroup/cpu,cpuacct', cpuacct: '/sys/fs/cgroup/cpu,cpuacct', memory: '/sys/fs/cgroup/memory/x' } },
    ],
    [
      'no memory controller',
      '32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu,cpuacct',
      '1:cpu,cpuacct:/\n',
      undefined,
      { reason: 'no cgroup hierarchy with the cpu and memory controllers is mounted' },
    ],
  ])('planLayout: %s', (_name, mountinfo, self, controllers, expected) => {
    expect(planLayout(mountinfo, self, controllers)).toEqual(expected);
  });

  it('parses flat keyed files', () => {
    expect(parseFlatKeyed('nr_periods 12\nnr_throttled 3\nthrottled_time 4500\n')).toEqual({ nr_periods: 12, nr_throttled: 3, throttled_time: 4500 });
    expect(parseFlatKeyed('oom_kill_disable 0\nunder_oom 0\noom_kill 1\n').oom_kill).toBe(1);
  });
});

describe('cgroups on this machine (needs root and the cpu, cpuacct and memory controllers)', () => {
  const support = detectCgroups();
  let dir: string;

  beforeAll(() => {
    if (!support.ok) throw new Error(`writable cgroups are required: ${support.reason}`);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cgroup-test-'));
  });
  afterAll(() => {
    if (dir !== undefined) {
      killRecorded(dir);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  function layout(): Layout {
    if (!support.ok) throw new Error(support.reason);
    return support.layout;
  }

  function run(command: string, args: string[], cgroup: ReturnType<typeof createCgroup>): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string }> {
    const wrapped = cgroup.wrap(command, args);
    const child = spawn(wrapped.command, wrapped.args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    return new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, stdout })));
  }

  it('puts the process in its cgroup before it runs, and the image service reads the quota from there', async () => {
    const cg = createCgroup(layout(), `imageops-test-${process.pid}-quota`, limitsOf({ cpu: '1500m', memory: '256Mi' }), dir);
    const script = `import { detectCpu } from ${JSON.stringify(path.join(REPO, 'image-service/src/threads.ts'))};
      import fs from 'node:fs';
      console.log(JSON.stringify({ limit: detectCpu().limit, self: fs.readFileSync('/proc/self/cgroup', 'utf8') }));`;
    const out = await run(process.execPath, ['--input-type=module', '-e', script], cg);
    expect(out.code).toBe(0);
    const seen = JSON.parse(out.stdout) as { limit: number; self: string };
    expect(seen.limit).toBe(1.5);
    expect(seen.self).toContain(cg.name);
    cg.remove();
    expect(cg.dirs.filter((d) => fs.existsSync(d))).toEqual([]);
  });

  it('counts an OOM kill when a process allocates past its memory limit', async () => {
    const cg = createCgroup(layout(), `imageops-test-${process.pid}-oom`, limitsOf({ memory: '32Mi' }), dir);
    const out = await run(process.execPath, ['-e', 'const a = []; for (let i = 0; i < 20; i++) a.push(Buffer.alloc(8 << 20, 1));'], cg);
    expect(out.signal).toBe('SIGKILL');
    expect(cg.oomKills()).toBe(1);
    cg.remove();
  });

  it('removes the cgroups of an earlier sandbox in the same state dir, killing what runs in them', async () => {
    const state = path.join(dir, 'crashed');
    const cg = createCgroup(layout(), `imageops-test-${process.pid}-left`, limitsOf({ cpu: '100m' }), state);
    const wrapped = cg.wrap('sleep', ['600']);
    // Its own session: killRecorded's process-group kill cannot reach it, only the cgroup can.
    const child = spawn(wrapped.command, wrapped.args, { stdio: 'ignore', detached: true });
    const exited = new Promise((resolve) => child.on('exit', resolve));
    await expect.poll(() => fs.readFileSync(path.join(cg.dirs[0] as string, 'cgroup.procs'), 'utf8').trim()).toBe(String(child.pid));
    expect(fs.readdirSync(path.join(state, 'cgroups'))).toEqual([cg.name]);
    killRecorded(state);
    expect(await exited).toBeNull();
    expect(cg.dirs.filter((d) => fs.existsSync(d))).toEqual([]);
    expect(fs.readdirSync(path.join(state, 'cgroups'))).toEqual([]);
  });

  it('tells a user who cannot write cgroups why, in one line', async () => {
    const script = `import { detectCgroups } from ${JSON.stringify(path.join(REPO, 'sandbox/kubelet/cgroup.ts'))}; console.log(JSON.stringify(detectCgroups()));`;
    const { stdout } = await exec('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', process.execPath, '--input-type=module', '-e', script], { cwd: os.tmpdir() });
    const seen = JSON.parse(stdout) as { ok: boolean; reason: string };
    expect(seen.ok).toBe(false);
    expect(seen.reason).toMatch(/^cannot create cgroups in \/sys\/fs\/cgroup\S* \(EACCES\): run the sandbox as root$/);
  });
});
