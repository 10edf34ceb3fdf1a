// The kubelet's cgroups with real processes: a CPU limit holds a busy container to its quota (read
// from the kernel's counters), a container over its memory limit is OOMKilled and restarted, the
// image service derives its workers from the quota it runs under, and nothing is left after stop.
// Needs root (or writable cgroups), as CI has.

import { existsSync, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseProcCgroup } from '../image-service/src/threads.ts';
import { RESOURCES } from '../sandbox/kube/client.ts';
import { type Pod, PodSchema } from '../sandbox/kube/types.ts';
import { testServerEntry } from '../sandbox/kubelet/catalogue.ts';
import { detectCgroups, parseFlatKeyed, parseMountinfo } from '../sandbox/kubelet/cgroup.ts';
import { REPO_ROOT, type Sandbox, startSandbox } from '../sandbox/sandbox.ts';
import { eventsAbout, waitFor } from './sandbox.testkit.ts';

const NS = 'default';

type Terminated = { exitCode: number; reason: string };
type ContainerState = { waiting?: { reason: string }; running?: unknown; terminated?: Terminated };
type Status = { restartCount: number; containerID?: string; state: ContainerState; lastState: ContainerState };

/** The directory of a process's cgroup that holds `file`, from /proc/PID/cgroup and the mounts. */
function cgroupDirOf(pid: number, controller: 'cpu' | 'cpuacct' | 'memory'): string {
  const self = parseProcCgroup(readFileSync(`/proc/${pid}/cgroup`, 'utf8'));
  const mounts = parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8'));
  const support = detectCgroups();
  if (support.ok && support.layout.version === 2) return path.join(mounts.find((m) => m.fsType === 'cgroup2')?.mountPoint ?? '', self.v2 ?? '');
  const mount = mounts.find((m) => m.fsType === 'cgroup' && m.superOptions.includes(controller));
  return path.join(mount?.mountPoint ?? '', self.v1[controller]?.path ?? '');
}

/** CPU seconds used, CFS periods, and throttled periods, as the kernel counts them for the cgroup. */
function cpuCounters(pid: number): { usage: number; periods: number; throttled: number } {
  const cpu = cgroupDirOf(pid, 'cpu');
  const stat = parseFlatKeyed(readFileSync(path.join(cpu, 'cpu.stat'), 'utf8'));
  const usage = stat.usage_usec !== undefined ? stat.usage_usec / 1e6 : Number(readFileSync(path.join(cgroupDirOf(pid, 'cpuacct'), 'cpuacct.usage'), 'utf8')) / 1e9;
  return { usage, periods: stat.nr_periods ?? 0, throttled: stat.nr_throttled ?? 0 };
}

describe('kubelet cgroups', () => {
  let sb: Sandbox | undefined;
  let dir: string;
  let stateDir: string;
  const support = detectCgroups();

  beforeAll(async () => {
    if (!support.ok) throw new Error(`writable cgroups are required (run as root): ${support.reason}`);
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sandbox-cgroups-'));
    stateDir = path.join(dir, 'state');
    await fs.mkdir(path.join(dir, 'markers'));
    await fs.mkdir(path.join(dir, 'images'));
    sb = await startSandbox({ stateDir, prometheus: 'off', extraImages: [testServerEntry(REPO_ROOT)] });
  });

  afterAll(async () => {
    await sb?.stop();
    await fs.rm(dir, { recursive: true, force: true });
  });

  function client(): Sandbox['client'] {
    if (sb === undefined) throw new Error('no sandbox');
    return sb.client;
  }

  const uids: string[] = [];
  async function create(name: string, container: Record<string, unknown>): Promise<void> {
    const created = await client().create(RESOURCES.pods, NS, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: NS },
      spec: { terminationGracePeriodSeconds: 2, containers: [{ name: 'app', image: 'sandbox/test-server:1', ...container }] },
    });
    uids.push(PodSchema.parse(created).metadata.uid ?? '');
  }

  async function status(name: string): Promise<Status | undefined> {
    const p: Pod | undefined = await client().get(RESOURCES.pods, PodSchema, NS, name);
    return p?.status?.containerStatuses?.[0] as Status | undefined;
  }

  async function runningPid(name: string): Promise<number> {
    return waitFor(
      `${name} running`,
      async () => {
        const s = await status(name);
        return s?.state.running !== undefined && s.containerID !== undefined ? Number(s.containerID.replace('sandbox://', '')) : undefined;
      },
      20_000,
    );
  }

  /** The cgroup's quota as "QUOTA PERIOD" microseconds (v2's cpu.max form, v1 read into it). */
  function quotaOf(pid: number): string {
    const dir = cgroupDirOf(pid, 'cpu');
    if (existsSync(path.join(dir, 'cpu.max'))) return readFileSync(path.join(dir, 'cpu.max'), 'utf8').trim();
    return `${readFileSync(path.join(dir, 'cpu.cfs_quota_us'), 'utf8').trim()} ${readFileSync(path.join(dir, 'cpu.cfs_period_us'), 'utf8').trim()}`;
  }

  it('holds containers to their limits.cpu by the kernel counters: 500m to half a core, 100m throttled', { timeout: 90_000 }, async () => {
    // Two spinning threads each want 2 cores. The quota binds once the machine gives a container
    // more than its quota: 500m needs half of this 2-core machine, which other processes may not
    // leave it (its cgroup is one scheduling entity among theirs); 100m is throttled even then.
    const burn = { name: 'BURN_CPU', value: '2' };
    await create('burn', { env: [burn], resources: { limits: { cpu: '500m', memory: '256Mi' } } });
    await create('crawl', { env: [burn], resources: { limits: { cpu: '100m', memory: '256Mi' } } });
    const [half, tenth] = [await runningPid('burn'), await runningPid('crawl')];
    expect(readFileSync(`/proc/${half}/cgroup`, 'utf8')).toMatch(/imageops-[\w-]+-app-1/);
    expect(quotaOf(half)).toBe('50000 100000');
    expect(quotaOf(tenth)).toBe('10000 100000');
    const first = { half: cpuCounters(half), tenth: cpuCounters(tenth) };
    const last = await waitFor(
      '20 throttled CFS periods of the 100m container, and 50 periods of both',
      async () => {
        const now = { half: cpuCounters(half), tenth: cpuCounters(tenth) };
        const enough = now.tenth.throttled - first.tenth.throttled >= 20 && now.half.periods - first.half.periods >= 50 && now.tenth.periods - first.tenth.periods >= 50;
        return enough ? now : undefined;
      },
      75_000,
      200,
    );
    // CPU seconds per 100 ms period: the quota allows 0.05 and 0.01.
    const share = (k: 'half' | 'tenth'): number => (last[k].usage - first[k].usage) / ((last[k].periods - first[k].periods) * 0.1);
    expect(share('half')).toBeLessThanOrEqual(0.55);
    expect(share('tenth')).toBeLessThanOrEqual(0.12);
    expect(share('tenth')).toBeGreaterThan(0.02);
    await client().delete(RESOURCES.pods, NS, 'burn');
    await client().delete(RESOURCES.pods, NS, 'crawl');
  });

  it('OOMKills a container over its memory limit, with exit code 137, and restarts it', { timeout: 60_000 }, async () => {
    const env = [
      { name: 'ALLOCATE_MIB', value: '200' },
      { name: 'MARKER_DIR', value: path.join(dir, 'markers') },
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    ];
    await create('hog', { env, resources: { limits: { memory: '64Mi' } } });
    const s = await waitFor(
      'restarted after an OOM kill',
      async () => {
        const st = await status('hog');
        return st !== undefined && st.restartCount >= 1 && st.state.running !== undefined ? st : undefined;
      },
      30_000,
    );
    expect(s.restartCount).toBe(1);
    expect(s.lastState.terminated).toMatchObject({ reason: 'OOMKilled', exitCode: 137 });
    // The first run got as far as the marker, not to the end of its allocation.
    expect(existsSync(path.join(dir, 'markers', 'allocated-hog'))).toBe(true);
    const previous = await (await fetch(`${sb?.apiServer}/api/v1/namespaces/${NS}/pods/hog/log?previous=true`)).text();
    expect(previous).not.toContain('allocated 200 MiB');
    await client().delete(RESOURCES.pods, NS, 'hog');
  });

  it('runs the image service with limits.cpu 1 and it derives one worker from the quota', { timeout: 60_000 }, async () => {
    await create('thumbs', {
      image: 'imageops/image-service:test',
      env: [
        { name: 'IMAGE_SOURCE', value: `file://${path.join(dir, 'images')}` },
        { name: 'IMAGE_SERVICE_LOG_LEVEL', value: 'info' },
      ],
      resources: { limits: { cpu: '1', memory: '512Mi' } },
      readinessProbe: { httpGet: { path: '/readyz', port: 8080 }, periodSeconds: 1 },
    });
    await runningPid('thumbs');
    const p = await waitFor(
      'thumbs ready',
      async () => {
        const pod = await client().get(RESOURCES.pods, PodSchema, NS, 'thumbs');
        return pod?.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True' ? pod : undefined;
      },
      30_000,
    );
    const metrics = await (await fetch(`http://${p.status?.podIP}:8080/metrics`)).text();
    expect(metrics).toMatch(/^image_service_workers 1$/m);
    const log = await (await fetch(`${sb?.apiServer}/api/v1/namespaces/${NS}/pods/thumbs/log`)).text();
    const settings = log
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.msg === 'effective settings');
    expect(settings).toMatchObject({ workers: 1, workersFrom: 'cgroup', cpuLimit: 1, threadpoolSize: 2 });
  });

  it('removes every cgroup it made when the sandbox stops, and warned about none', { timeout: 60_000 }, async () => {
    const events = (await Promise.all(['burn', 'crawl', 'hog', 'thumbs'].map((name) => eventsAbout(client(), NS, name)))).flat();
    expect(events.filter((e) => e.reason === 'CgroupUnavailable')).toEqual([]);
    const pid = await runningPid('thumbs');
    const dirs = (['cpu', 'cpuacct', 'memory'] as const).map((c) => cgroupDirOf(pid, c));
    expect(dirs.every((d) => existsSync(d))).toBe(true);
    await sb?.stop();
    sb = undefined;
    expect(dirs.filter((d) => existsSync(d))).toEqual([]);
    expect(await fs.readdir(path.join(stateDir, 'cgroups'))).toEqual([]);
    if (support.ok) {
      const parents = support.layout.version === 2 ? [support.layout.parent] : Object.values(support.layout.parent);
      for (const parent of parents) expect((await fs.readdir(parent)).filter((d) => uids.some((uid) => d.includes(uid)))).toEqual([]);
    }
  });
});
