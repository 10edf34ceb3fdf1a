// Containers' cgroups, as a kubelet and its runtime make them: one per run of a container, with
// the CPU quota and memory limit of `resources.limits`, nested under the sandbox's own cgroup (so
// whatever bounds the sandbox bounds its pods too). cgroup v2 when its hierarchy has the cpu and
// memory controllers, else v1 (cpu, cpuacct, memory). Every cgroup made is recorded in the state
// dir, so a sandbox that died without removing them has them removed by the next one (pids.ts).
//
// The process joins its cgroup before it runs a single instruction of its own: it is spawned
// through a tiny shell that writes its own pid to cgroup.procs, then execs the container's command
// (same pid, same process group). Writing the child's pid after spawn would leave a window in which
// it could allocate and run outside its limits, uncounted.
import fs from 'node:fs';
import path from 'node:path';
import { parseProcCgroup } from '../../image-service/src/threads.ts';
import { nanoUnits } from '../../operator/src/api/quantities.ts';

/** The CFS period the kubelet uses (100 ms). */
export const CFS_PERIOD_US = 100_000;
/** The kubelet's smallest quota (1 ms): a smaller one would starve the container. */
const MIN_QUOTA_US = 1000;

export interface Limits {
  /** CPU time per CFS_PERIOD_US, in microseconds; undefined: unlimited. */
  cpuQuotaUs?: number;
  memoryBytes?: number;
}

export class CgroupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CgroupError';
  }
}

/** `resources.limits` as cgroup values, rounded up as the kubelet rounds (milli-CPUs, bytes). */
export function limitsOf(limits: Readonly<Record<string, string | number>> | undefined): Limits {
  const out: Limits = {};
  const cpu = limits?.cpu;
  if (cpu !== undefined) {
    const milli = (nanoUnits(cpu) + 999_999n) / 1_000_000n;
    out.cpuQuotaUs = Math.max(MIN_QUOTA_US, Number((milli * BigInt(CFS_PERIOD_US)) / 1000n));
  }
  const memory = limits?.memory;
  if (memory !== undefined) out.memoryBytes = Number((nanoUnits(memory) + 999_999_999n) / 1_000_000_000n);
  return out;
}

export type Layout =
  /** `parent`: the directory container cgroups are made in. */
  { version: 2; parent: string } | { version: 1; parent: { cpu: string; cpuacct: string; memory: string } };

interface Mount {
  mountPoint: string;
  /** The hierarchy path mounted there (not "/" inside some containers). */
  root: string;
  fsType: string;
  superOptions: string[];
}

/** /proc/self/mountinfo's cgroup mounts (proc(5): fields, then " - fstype source superoptions"). */
export function parseMountinfo(text: string): Mount[] {
  const out: Mount[] = [];
  for (const line of text.split('\n')) {
    const [left, right] = line.split(' - ');
    if (left === undefined || right === undefined) continue;
    const fields = left.split(' ');
    const [fsType = '', , superOptions = ''] = right.split(' ');
    if (fsType !== 'cgroup' && fsType !== 'cgroup2') continue;
    const unoctal = (s: string): string => s.replace(/\\(\d{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
    out.push({ mountPoint: unoctal(fields[4] ?? ''), root: unoctal(fields[3] ?? '/'), fsType, superOptions: superOptions.split(',') });
  }
  return out;
}

function under(mount: Mount, cgroupPath: string): string {
  const relative = mount.root !== '/' && cgroupPath.startsWith(mount.root) ? cgroupPath.slice(mount.root.length) : cgroupPath;
  const dir = path.join(mount.mountPoint, relative);
  return dir.length > 1 ? dir.replace(/\/+$/, '') : dir;
}

/**
 * Where this process's container cgroups go: under its own cgroup, in v2 when the v2 hierarchy
 * offers cpu and memory (`v2Controllers`: its root's cgroup.controllers), else in v1's cpu,
 * cpuacct and memory hierarchies; or why there is nowhere.
 */
export function planLayout(mountinfo: string, procCgroup: string, v2Controllers: string | undefined): Layout | { reason: string } {
  const mounts = parseMountinfo(mountinfo);
  const self = parseProcCgroup(procCgroup);
  const v2 = mounts.find((m) => m.fsType === 'cgroup2');
  const offered = (v2Controllers ?? '').trim().split(/\s+/);
  if (v2 !== undefined && self.v2 !== undefined && offered.includes('cpu') && offered.includes('memory')) {
    return { version: 2, parent: under(v2, self.v2) };
  }
  const v1 = (controller: string): string | undefined => {
    const mount = mounts.find((m) => m.fsType === 'cgroup' && m.superOptions.includes(controller));
    const own = self.v1[controller];
    return mount === undefined || own === undefined ? undefined : under(mount, own.path);
  };
  const [cpu, cpuacct, memory] = [v1('cpu'), v1('cpuacct'), v1('memory')];
  if (cpu !== undefined && cpuacct !== undefined && memory !== undefined) return { version: 1, parent: { cpu, cpuacct, memory } };
  return { reason: 'no cgroup hierarchy with the cpu and memory controllers is mounted' };
}

/** The files and values that set `limits` (unset limits written as unlimited). */
export function limitWrites(version: 1 | 2, limits: Limits): { controller: 'cpu' | 'memory'; file: string; value: string }[] {
  if (version === 2) {
    return [
      { controller: 'cpu', file: 'cpu.max', value: `${limits.cpuQuotaUs ?? 'max'} ${CFS_PERIOD_US}` },
      { controller: 'memory', file: 'memory.max', value: limits.memoryBytes === undefined ? 'max' : String(limits.memoryBytes) },
    ];
  }
  return [
    { controller: 'cpu', file: 'cpu.cfs_period_us', value: String(CFS_PERIOD_US) },
    { controller: 'cpu', file: 'cpu.cfs_quota_us', value: String(limits.cpuQuotaUs ?? -1) },
    { controller: 'memory', file: 'memory.limit_in_bytes', value: limits.memoryBytes === undefined ? '-1' : String(limits.memoryBytes) },
  ];
}

/** `key value` lines (cpu.stat, memory.events, memory.oom_control) as numbers. */
export function parseFlatKeyed(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const [key, value] = line.trim().split(/\s+/);
    if (key !== undefined && key !== '' && value !== undefined) out[key] = Number(value);
  }
  return out;
}

export interface CpuCounters {
  usageSeconds: number;
  /** CFS periods in which the cgroup ran, and those in which it used up its quota. */
  periods: number;
  throttledPeriods: number;
  throttledSeconds: number;
}

function readText(file: string): string {
  return fs.readFileSync(file, 'utf8');
}

/** Sleeps synchronously: removal also runs in process exit hooks, where nothing async runs. */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Kills whatever still runs in each cgroup, then removes it; returns the directories that could
 * not be removed, with why. A directory already gone counts as removed.
 */
export function removeCgroupDirs(dirs: readonly string[], waitMs = 2000): { dir: string; error: string }[] {
  const failed: { dir: string; error: string }[] = [];
  for (const dir of dirs) {
    const deadline = Date.now() + waitMs;
    for (;;) {
      let pids: number[];
      try {
        pids = readText(path.join(dir, 'cgroup.procs')).split('\n').filter(Boolean).map(Number);
      } catch {
        break; // gone already
      }
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // exited meanwhile
        }
      }
      try {
        fs.rmdirSync(dir);
        break;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') break;
        if (code !== 'EBUSY' || Date.now() > deadline) {
          failed.push({ dir, error: (err as Error).message });
          break;
        }
        sleepSync(10);
      }
    }
  }
  return failed;
}

function recordDir(stateDir: string): string {
  return path.join(stateDir, 'cgroups');
}

/** Removes the cgroups an earlier sandbox in this state dir recorded and left; returns them. */
export function removeRecordedCgroups(stateDir: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(recordDir(stateDir));
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const file = path.join(recordDir(stateDir), name);
    let dirs: unknown;
    try {
      dirs = JSON.parse(readText(file));
    } catch {
      dirs = [];
    }
    const list = Array.isArray(dirs) ? dirs.filter((d): d is string => typeof d === 'string' && fs.existsSync(d)) : [];
    if (removeCgroupDirs(list).length === 0) fs.rmSync(file, { force: true });
    removed.push(...list);
  }
  return removed;
}

/** One container run's cgroup (one directory in v2, one per controller in v1). */
export class ContainerCgroup {
  readonly name: string;
  readonly version: 1 | 2;
  readonly #dirs: { cpu: string; cpuacct: string; memory: string };
  readonly #record: string;

  constructor(name: string, version: 1 | 2, dirs: { cpu: string; cpuacct: string; memory: string }, record: string) {
    this.name = name;
    this.version = version;
    this.#dirs = dirs;
    this.#record = record;
  }

  get dirs(): string[] {
    return [...new Set(Object.values(this.#dirs))];
  }

  /** The command line that puts the process in this cgroup, then runs `command` in its place. */
  wrap(command: string, args: readonly string[]): { command: string; args: string[] } {
    const script = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"';
    return { command: '/bin/sh', args: ['-c', script, 'sh', ...this.dirs.map((d) => path.join(d, 'cgroup.procs')), '--', command, ...args] };
  }

  /** Processes the kernel's OOM killer killed in this cgroup. */
  oomKills(): number {
    const file = this.version === 2 ? 'memory.events' : 'memory.oom_control';
    return parseFlatKeyed(readText(path.join(this.#dirs.memory, file))).oom_kill ?? 0;
  }

  cpu(): CpuCounters {
    const stat = parseFlatKeyed(readText(path.join(this.#dirs.cpu, 'cpu.stat')));
    if (this.version === 2) {
      return { usageSeconds: (stat.usage_usec ?? 0) / 1e6, periods: stat.nr_periods ?? 0, throttledPeriods: stat.nr_throttled ?? 0, throttledSeconds: (stat.throttled_usec ?? 0) / 1e6 };
    }
    const usageNs = Number(readText(path.join(this.#dirs.cpuacct, 'cpuacct.usage')).trim());
    return { usageSeconds: usageNs / 1e9, periods: stat.nr_periods ?? 0, throttledPeriods: stat.nr_throttled ?? 0, throttledSeconds: (stat.throttled_time ?? 0) / 1e9 };
  }

  /**
   * The working set, as cAdvisor and the resource metrics API count memory: usage less the
   * inactive page cache, which the kernel reclaims before it kills.
   */
  memoryWorkingSetBytes(): number {
    const [usageFile, inactive] = this.version === 2 ? ['memory.current', 'inactive_file'] : ['memory.usage_in_bytes', 'total_inactive_file'];
    const usage = Number(readText(path.join(this.#dirs.memory, usageFile)).trim());
    const stat = parseFlatKeyed(readText(path.join(this.#dirs.memory, 'memory.stat')));
    return Math.max(0, usage - (stat[inactive] ?? 0));
  }

  /** Kills what is left in it and removes it (and its record). */
  remove(): void {
    const failed = removeCgroupDirs(this.dirs);
    if (failed.length > 0) throw new CgroupError(`cannot remove cgroup ${failed.map((f) => `${f.dir}: ${f.error}`).join('; ')}`);
    fs.rmSync(this.#record, { force: true });
  }
}

export type CgroupSupport = { ok: true; layout: Layout } | { ok: false; reason: string };

/** Which cgroups this process can make, from /proc and /sys; once per process (see nodeCgroups). */
export function detectCgroups(): CgroupSupport {
  const read = (file: string): string | undefined => {
    try {
      return readText(file);
    } catch {
      return undefined;
    }
  };
  const mountinfo = read('/proc/self/mountinfo') ?? '';
  const v2 = parseMountinfo(mountinfo).find((m) => m.fsType === 'cgroup2');
  const layout = planLayout(mountinfo, read('/proc/self/cgroup') ?? '', v2 === undefined ? undefined : read(path.join(v2.mountPoint, 'cgroup.controllers')));
  if ('reason' in layout) return { ok: false, reason: layout.reason };
  const parents = layout.version === 2 ? [layout.parent] : [...new Set(Object.values(layout.parent))];
  for (const dir of parents) {
    try {
      fs.accessSync(dir, fs.constants.W_OK);
    } catch (err) {
      return { ok: false, reason: `cannot create cgroups in ${dir} (${(err as NodeJS.ErrnoException).code ?? String(err)}): run the sandbox as root` };
    }
  }
  return { ok: true, layout };
}

let detected: CgroupSupport | undefined;
export function nodeCgroups(): CgroupSupport {
  detected ??= detectCgroups();
  return detected;
}

/**
 * Makes the cgroup `name` with `limits`, recorded in the state dir before it exists (so a crash
 * in between leaves nothing unrecorded). On failure removes what it made and throws CgroupError.
 */
export function createCgroup(layout: Layout, name: string, limits: Limits, stateDir: string): ContainerCgroup {
  if (!/^[\w.-]+$/.test(name)) throw new CgroupError(`invalid cgroup name "${name}"`);
  const dirs =
    layout.version === 2
      ? { cpu: path.join(layout.parent, name), cpuacct: path.join(layout.parent, name), memory: path.join(layout.parent, name) }
      : { cpu: path.join(layout.parent.cpu, name), cpuacct: path.join(layout.parent.cpuacct, name), memory: path.join(layout.parent.memory, name) };
  const record = path.join(recordDir(stateDir), name);
  const cgroup = new ContainerCgroup(name, layout.version, dirs, record);
  fs.mkdirSync(recordDir(stateDir), { recursive: true });
  fs.writeFileSync(record, JSON.stringify(cgroup.dirs));
  try {
    if (layout.version === 2) enableV2Controllers(layout.parent);
    for (const dir of cgroup.dirs) fs.mkdirSync(dir);
    for (const w of limitWrites(layout.version, limits)) fs.writeFileSync(path.join(dirs[w.controller], w.file), w.value);
  } catch (err) {
    removeCgroupDirs(cgroup.dirs);
    fs.rmSync(record, { force: true });
    throw new CgroupError(`cannot create cgroup ${name}: ${(err as Error).message}`);
  }
  return cgroup;
}

/** v2 gives a child cpu and memory only when its parent's subtree_control lists them. */
function enableV2Controllers(parent: string): void {
  const file = path.join(parent, 'cgroup.subtree_control');
  const enabled = readText(file).trim().split(/\s+/);
  const missing = ['cpu', 'memory'].filter((c) => !enabled.includes(c));
  if (missing.length === 0) return;
  try {
    fs.writeFileSync(file, missing.map((c) => `+${c}`).join(' '));
  } catch (err) {
    // The "no internal processes" rule: a non-root cgroup that holds processes cannot delegate.
    throw new CgroupError(
      `cannot enable ${missing.join(' and ')} for the cgroups under ${parent} (${(err as NodeJS.ErrnoException).code ?? String(err)}): start the sandbox in a cgroup of its own, or at the root`,
    );
  }
}
