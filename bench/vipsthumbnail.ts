// libvips' own command-line thumbnailer (Debian libvips-tools): a batch of the corpus files,
// one process per CPU of the budget, each pinned with taskset. Its CPU time comes from the
// shell's `times` builtin (the children's user and system time), its wall time from here.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { MemorySampler } from './proc-stats.ts';
import type { Workload } from './workloads.ts';

export interface BatchResult {
  images: number;
  elapsedSeconds: number;
  imagesPerSecond: number;
  cpuSecondsPer1000: number;
  peakRssBytes: number;
  version: string;
}

/** Why vipsthumbnail cannot run here, or undefined. */
export function vipsthumbnailMissing(): string | undefined {
  try {
    execFileSync('vipsthumbnail', ['--vips-version'], { stdio: 'ignore', timeout: 10_000 });
    return undefined;
  } catch {
    return 'vipsthumbnail is not installed: apt-get install -y libvips-tools';
  }
}

/** The children's user and system seconds from the second line of bash's `times`: "0m2.063s 0m0.292s". */
export function parseTimes(output: string): number {
  const line = output.trim().split('\n').at(-1) ?? '';
  const seconds = [...line.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
  if (seconds.length !== 2) throw new Error(`unexpected output of times: "${line}"`);
  return (seconds[0] ?? 0) + (seconds[1] ?? 0);
}

function runOne(cpu: string, args: string[]): { done: Promise<number>; pid: number } {
  const child = spawn('taskset', ['-c', cpu, 'bash', '-c', 'vipsthumbnail "$@" && times', 'bash', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const done = new Promise<number>((resolve, reject) =>
    child.once('close', (code) => (code === 0 ? resolve(parseTimes(out)) : reject(new Error(`vipsthumbnail failed: ${err.trim().slice(0, 500)}`)))),
  );
  return { done, pid: child.pid ?? 0 };
}

export async function runVipsthumbnail(root: string, keys: readonly string[], workload: Workload, cpuList: readonly number[], outDir: string): Promise<BatchResult> {
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const ext = workload.format === 'jpeg' ? 'jpg' : workload.format;
  const output = join(outDir, `%s.${ext}[Q=${workload.quality}]`);
  const started = performance.now();
  const runs = cpuList.map((cpu, i) => {
    const slice = keys.filter((_, k) => k % cpuList.length === i).map((k) => join(root, k));
    return runOne(String(cpu), ['--size', `${workload.width}x`, '-o', output, ...slice]);
  });
  const samplers = runs.map((r) => new MemorySampler(r.pid, 100));
  let peakRssBytes = 0;
  let cpuSeconds: number;
  try {
    cpuSeconds = (await Promise.all(runs.map((r) => r.done))).reduce((a, b) => a + b, 0);
  } finally {
    peakRssBytes = samplers.map((s) => s.stop().peakRssBytes).reduce((a, b) => a + b, 0);
    rmSync(outDir, { recursive: true, force: true });
  }
  const elapsedSeconds = (performance.now() - started) / 1000;
  return {
    images: keys.length,
    elapsedSeconds,
    imagesPerSecond: keys.length / elapsedSeconds,
    cpuSecondsPer1000: (cpuSeconds / keys.length) * 1000,
    peakRssBytes,
    version: execFileSync('vipsthumbnail', ['--vips-version'], { encoding: 'utf8' }).trim(),
  };
}
