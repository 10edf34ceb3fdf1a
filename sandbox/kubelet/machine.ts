// The node's own usage, for NodeMetrics: the kubelet reports the machine as the node's capacity
// (every CPU it may use, all its memory), so the node's usage is the machine's, as a kubelet
// reads its root cgroup. From /proc, which needs no privileges: busy CPU time from /proc/stat,
// the memory working set from /proc/meminfo, counted as cAdvisor counts a root cgroup's (memory
// in use less the inactive page cache the kernel reclaims first).
import fs from 'node:fs';

/** /proc/stat counts clock ticks of USER_HZ, which the kernel fixes at 100 for user space. */
const USER_HZ = 100;

export interface MachineUsage {
  /** CPU time spent busy since boot, all CPUs together. */
  cpuSeconds: number;
  memoryBytes: number;
}

/** The first line of /proc/stat: every state but idle and iowait is busy (guest time is already in user). */
export function busyCpuSeconds(procStat: string): number {
  const line = procStat.split('\n').find((l) => l.startsWith('cpu '));
  if (line === undefined) throw new Error('/proc/stat has no "cpu" line');
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = line.trim().split(/\s+/).slice(1).map(Number);
  const busy = user + nice + system + irq + softirq + steal;
  if (!Number.isFinite(busy)) throw new Error('/proc/stat: a "cpu" field that is not a number');
  return busy / USER_HZ;
}

/** /proc/meminfo's working set: MemTotal - MemFree - Inactive(file), in bytes. */
export function workingSetBytes(meminfo: string): number {
  const kib = (key: string): number => {
    const m = new RegExp(`^${key.replace(/[()]/g, '\\$&')}:\\s+(\\d+) kB$`, 'm').exec(meminfo);
    if (m === null) throw new Error(`/proc/meminfo has no ${key}`);
    return Number(m[1]) * 1024;
  };
  return Math.max(0, kib('MemTotal') - kib('MemFree') - kib('Inactive(file)'));
}

export function machineUsage(): MachineUsage {
  return { cpuSeconds: busyCpuSeconds(fs.readFileSync('/proc/stat', 'utf8')), memoryBytes: workingSetBytes(fs.readFileSync('/proc/meminfo', 'utf8')) };
}
