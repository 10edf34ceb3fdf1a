import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { busyCpuSeconds, machineUsage, workingSetBytes } from './machine.ts';

describe("the machine's usage", () => {
  it('counts busy CPU ticks of /proc/stat in seconds: not idle, not iowait', () => {
    const stat = 'cpu  2588324 706 583215 1510673 3589 10 28506 11757 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\nintr 1 2 3\n';
    expect(busyCpuSeconds(stat)).toBeCloseTo((2588324 + 706 + 583215 + 10 + 28506 + 11757) / 100, 6);
  });

  it('refuses a /proc/stat without its cpu line', () => {
    expect(() => busyCpuSeconds('intr 1 2\n')).toThrow(/no "cpu" line/);
  });

  it('reads the working set from /proc/meminfo: in use less the inactive page cache', () => {
    const meminfo = 'MemTotal:       24683772 kB\nMemFree:        16821868 kB\nMemAvailable:   23332044 kB\nInactive:        3000000 kB\nInactive(file):  2500000 kB\n';
    expect(workingSetBytes(meminfo)).toBe((24683772 - 16821868 - 2500000) * 1024);
    expect(() => workingSetBytes('MemTotal: 1 kB\n')).toThrow(/no MemFree/);
  });

  it('reads this machine: busy time grows with work, memory within the total', () => {
    const before = machineUsage();
    const until = Date.now() + 300;
    while (Date.now() < until); // this process alone keeps one CPU busy
    const after = machineUsage();
    expect(after.cpuSeconds - before.cpuSeconds).toBeGreaterThanOrEqual(0.2);
    expect(after.memoryBytes).toBeGreaterThan(0);
    expect(after.memoryBytes).toBeLessThan(os.totalmem());
  });
});
