// `npm run bench -- --scenario recent-record`: the image service's record of recent requests on
// the hot path (docs/benchmarks.md, "Image service: the record of recent requests"): the CPU of
// one record() call, for a repeated request (the common case: a hot key moves to the front) and
// for a new one (an insertion and an eviction), with keys of the usual length and of the longest
// the service accepts.
import { paramsQuery, parseParams } from '../image-service/src/params.ts';
import { RecentRequests } from '../image-service/src/recent.ts';

const CALLS = 2_000_000;

export interface RecentRecordRow {
  case: string;
  nsPerCall: number;
}

function nsPerCall(keys: readonly string[], params: string): number {
  const recent = new RecentRequests();
  for (let i = 0; i < CALLS / 10; i++) recent.record(keys[i % keys.length]!, params); // warm up
  const start = process.cpuUsage();
  for (let i = 0; i < CALLS; i++) recent.record(keys[i % keys.length]!, params);
  const used = process.cpuUsage(start);
  return ((used.user + used.system) * 1000) / CALLS;
}

export function runRecentRecord(progress: (line: string) => void): RecentRecordRow[] {
  const params = paramsQuery(parseParams('w=640&fm=webp')!);
  const short = (n: number) => Array.from({ length: n }, (_, i) => `products/2026/shoe-${i}.jpg`);
  const long = (n: number) => Array.from({ length: n }, (_, i) => `${'k'.repeat(1016)}-${String(i).padStart(7, '0')}`);
  const cases: [string, () => string[]][] = [
    ['repeats of 16 keys (moves to the front)', () => short(16)],
    ['a new key each call (insert and evict)', () => short(CALLS)],
    ['a new 1024-byte key each call', () => long(100_000)],
  ];
  return cases.map(([name, keys]) => {
    progress(`recent-record: ${name}, ${CALLS} calls`);
    return { case: name, nsPerCall: nsPerCall(keys(), params) };
  });
}
