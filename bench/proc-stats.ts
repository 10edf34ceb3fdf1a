// What a server process tree costs, read from Linux's /proc: resident memory and CPU time.
// A server may be several processes (php -S workers, one process per core), so every figure
// covers the tree under the pid the harness started.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

export interface ProcEntry {
  pid: number;
  ppid: number;
  /** utime + stime + cutime + cstime, in clock ticks. */
  cpuTicks: number;
}

function getconf(name: string, fallback: number): number {
  try {
    const value = Number(execFileSync('getconf', [name], { encoding: 'utf8' }).trim());
    return Number.isFinite(value) && value > 0 ? value : fallback;
  } catch {
    return fallback;
  }
}

const clockTicksPerSecond = getconf('CLK_TCK', 100);

/** Parses /proc/<pid>/stat; the command name sits in parentheses and may hold spaces. */
export function parseStat(text: string): ProcEntry {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) throw new Error(`not a /proc stat line: ${text.slice(0, 80)}`);
  const pid = Number(text.slice(0, open).trim());
  // Fields after the name, numbered as in proc(5) from field 3 (state).
  const rest = text.slice(close + 2).split(' ');
  const field = (n: number): number => Number(rest[n - 3]);
  return { pid, ppid: field(4), cpuTicks: field(14) + field(15) + field(16) + field(17) };
}

/** The pids of root and all its descendants. */
export function descendants(root: number, entries: readonly ProcEntry[]): number[] {
  const children = new Map<number, number[]>();
  for (const e of entries) {
    const list = children.get(e.ppid) ?? [];
    list.push(e.pid);
    children.set(e.ppid, list);
  }
  const out: number[] = [];
  const stack = [root];
  while (stack.length > 0) {
    const pid = stack.pop() as number;
    out.push(pid);
    stack.push(...(children.get(pid) ?? []));
  }
  return out;
}

function readProcs(): ProcEntry[] {
  const out: ProcEntry[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      out.push(parseStat(readFileSync(`/proc/${name}/stat`, 'utf8')));
    } catch {
      // The process exited between the listing and the read.
    }
  }
  return out;
}

/** VmRSS and VmHWM of one process in bytes, or undefined when it is gone. */
export function memoryOf(pid: number): { rss: number; hwm: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
    return { rss: kib('VmRSS') * 1024, hwm: kib('VmHWM') * 1024 };
  } catch {
    return undefined;
  }
}

export interface TreeSnapshot {
  pids: number[];
  rssBytes: number;
  /** Sum of each live process's own peak (VmHWM): an upper bound of the tree's peak. */
  hwmBytes: number;
  cpuSeconds: number;
}

export function snapshotTree(root: number): TreeSnapshot {
  const entries = readProcs();
  const live = new Set(entries.map((e) => e.pid));
  const pids = live.has(root) ? descendants(root, entries) : [];
  const ticks = new Map(entries.map((e) => [e.pid, e.cpuTicks]));
  let rssBytes = 0;
  let hwmBytes = 0;
  let cpuTicks = 0;
  for (const pid of pids) {
    const mem = memoryOf(pid);
    rssBytes += mem?.rss ?? 0;
    hwmBytes += mem?.hwm ?? 0;
    cpuTicks += ticks.get(pid) ?? 0;
  }
  return { pids, rssBytes, hwmBytes, cpuSeconds: cpuTicks / clockTicksPerSecond };
}

export interface MemorySeries {
  /** The highest tree RSS seen: the polled sum, or the root's own VmHWM for a single process. */
  peakRssBytes: number;
  samples: { atMs: number; rssBytes: number }[];
}

/** Polls the tree's RSS until stopped; a single process's VmHWM catches peaks between polls. */
export class MemorySampler {
  readonly #root: number;
  readonly #timer: NodeJS.Timeout;
  readonly #started = Date.now();
  readonly #samples: { atMs: number; rssBytes: number }[] = [];
  #peak = 0;

  constructor(root: number, intervalMs: number) {
    this.#root = root;
    this.#sample();
    this.#timer = setInterval(() => this.#sample(), intervalMs);
  }

  #sample(): void {
    const snap = snapshotTree(this.#root);
    if (snap.pids.length === 0) return;
    const single = snap.pids.length === 1 ? snap.hwmBytes : 0;
    this.#peak = Math.max(this.#peak, snap.rssBytes, single);
    this.#samples.push({ atMs: Date.now() - this.#started, rssBytes: snap.rssBytes });
  }

  stop(): MemorySeries {
    this.#sample();
    clearInterval(this.#timer);
    return { peakRssBytes: this.#peak, samples: this.#samples };
  }
}

/** Busy seconds (all but idle and iowait) of the given CPUs since boot, from /proc/stat. */
export function cpuBusySeconds(cpuList: readonly number[]): number {
  let ticks = 0;
  for (const line of readFileSync('/proc/stat', 'utf8').split('\n')) {
    const match = /^cpu(\d+) (.*)$/.exec(line);
    if (!match || !cpuList.includes(Number(match[1]))) continue;
    // user nice system idle iowait irq softirq steal ...
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = (match[2] ?? '').trim().split(/\s+/).map(Number);
    ticks += user + nice + system + irq + softirq + steal;
  }
  return ticks / clockTicksPerSecond;
}
