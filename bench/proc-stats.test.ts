import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { cpuBusySeconds, descendants, MemorySampler, parseStat, snapshotTree } from './proc-stats.ts';

describe('parseStat', () => {
  it('reads pid, ppid and CPU ticks past a command name holding spaces and parentheses', () => {
    // Fields from proc(5): pid (comm) state ppid ... utime(14) stime(15) cutime(16) cstime(17) ...
    const fields = ['S', '42', ...Array.from({ length: 9 }, () => '0'), '100', '20', '3', '4', '0', '0'];
    const line = `1234 (web (worker) 1) ${fields.join(' ')}`;
    expect(parseStat(line)).toEqual({ pid: 1234, ppid: 42, cpuTicks: 127 });
  });

  it('refuses a line that is not a stat line', () => {
    expect(() => parseStat('garbage')).toThrow(/not a \/proc stat line/);
  });
});

describe('descendants', () => {
  it('walks the whole tree under the root and nothing else', () => {
    const table = [
      { pid: 1, ppid: 0, cpuTicks: 0 },
      { pid: 10, ppid: 1, cpuTicks: 0 },
      { pid: 11, ppid: 10, cpuTicks: 0 },
      { pid: 12, ppid: 10, cpuTicks: 0 },
      { pid: 13, ppid: 12, cpuTicks: 0 },
      { pid: 20, ppid: 1, cpuTicks: 0 },
    ];
    expect(descendants(10, table).sort()).toEqual([10, 11, 12, 13]);
    expect(descendants(20, table)).toEqual([20]);
  });
});

describe('on this machine', () => {
  const children: { kill: () => boolean }[] = [];
  afterEach(() => {
    for (const c of children.splice(0)) c.kill();
  });

  it('sees a child process and its grandchild in the tree, with their memory', async () => {
    const child = spawn('bash', ['-c', 'sleep 30 & wait'], { stdio: 'ignore' });
    children.push(child);
    await once(child, 'spawn');
    let snap = snapshotTree(child.pid as number);
    for (let i = 0; i < 50 && snap.pids.length < 2; i++) {
      await new Promise((r) => setTimeout(r, 20));
      snap = snapshotTree(child.pid as number);
    }
    expect(snap.pids[0]).toBe(child.pid);
    expect(snap.pids).toHaveLength(2);
    expect(snap.rssBytes).toBeGreaterThan(0);
    expect(snap.hwmBytes).toBeGreaterThanOrEqual(snap.rssBytes);
    child.kill('SIGKILL');
    await once(child, 'exit');
  });

  it('has an empty tree for a process that is gone', () => {
    expect(snapshotTree(2 ** 22 + 12345).pids).toEqual([]);
  });

  it('samples the peak RSS of a process that grows', async () => {
    const grow = spawn(process.execPath, ['-e', 'const a = []; for (let i = 0; i < 40; i++) a.push(Buffer.alloc(1 << 20, 1)); setTimeout(() => {}, 30000);'], { stdio: 'ignore' });
    children.push(grow);
    await once(grow, 'spawn');
    const sampler = new MemorySampler(grow.pid as number, 20);
    await new Promise((r) => setTimeout(r, 600));
    const series = sampler.stop();
    expect(series.peakRssBytes).toBeGreaterThan(40 * 2 ** 20);
    expect(series.samples.length).toBeGreaterThan(3);
  });

  it('counts busy CPU time that only grows', () => {
    const before = cpuBusySeconds([0]);
    const end = Date.now() + 50;
    while (Date.now() < end) Math.sqrt(Math.random());
    expect(cpuBusySeconds([0])).toBeGreaterThanOrEqual(before);
    expect(before).toBeGreaterThan(0);
  });
});
