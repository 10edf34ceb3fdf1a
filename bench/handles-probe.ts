// Bench-only preload (`node --import ./bench/handles-probe.ts ...`): every
// BENCH_HANDLES_INTERVAL_MS it appends one JSON line to BENCH_HANDLES_FILE with the process's
// active libuv resources by type (process.getActiveResourcesInfo()) and its memory, so that a
// soak can tell leaked sockets, timers or file requests from load. Production code never loads
// it. The timer is unref'd: it never keeps the process alive, and so never counts itself.
import { appendFileSync } from 'node:fs';

const file = process.env.BENCH_HANDLES_FILE;
const every = Number(process.env.BENCH_HANDLES_INTERVAL_MS ?? '1000');

function probe(): void {
  const resources: Record<string, number> = {};
  for (const type of process.getActiveResourcesInfo()) resources[type] = (resources[type] ?? 0) + 1;
  const memory = process.memoryUsage();
  const line = { at: Date.now(), pid: process.pid, resources, rss: memory.rss, heapUsed: memory.heapUsed, external: memory.external };
  appendFileSync(file as string, `${JSON.stringify(line)}\n`);
}

if (file !== undefined && file !== '' && every > 0) setInterval(probe, every).unref();
