// Runs the load generator as its own pinned process and hands back its result; the harness is
// told when the measured phase begins (after the warm-up) and when it ends, with the generator's
// pid, so that it can read the CPU time of the server and of the generator over that window.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { type LoadPlan, type LoadResult, LoadResultSchema, MEASURING } from './load-generator.ts';

const generator = fileURLToPath(new URL('./load-generator.ts', import.meta.url));

export interface LoadHooks {
  onMeasuring(generatorPid: number): void;
  onFinished(generatorPid: number): void;
}

export async function runLoad(plan: LoadPlan, cpus: string, hooks: LoadHooks): Promise<LoadResult> {
  const child = spawn('taskset', ['-c', cpus, process.execPath, generator, JSON.stringify(plan)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4_000);
  });
  // Bounded: the generator stops by itself; this only guards against a hung one.
  const limitMs = (plan.warmupSeconds + plan.durationSeconds + plan.timeoutSeconds + 30) * 1000;
  const guard = setTimeout(() => child.kill('SIGKILL'), limitMs);
  let result: LoadResult | undefined;
  const lines = createInterface({ input: child.stdout });
  lines.on('line', (line) => {
    if (line === MEASURING) hooks.onMeasuring(child.pid ?? 0);
    else if (line.startsWith('{')) {
      hooks.onFinished(child.pid ?? 0);
      result = LoadResultSchema.parse(JSON.parse(line));
    }
  });
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  clearTimeout(guard);
  if (code !== 0 || result === undefined) {
    throw new Error(`the load generator failed (exit ${code}):\n${stderr.trim()}`);
  }
  return result;
}
