// The load generator: a separate process (pinned by the harness to its own core) that drives
// autocannon against one server, cycling through the corpus paths, and prints one JSON result.
// It records latency per status itself, so the p99 of admitted (200) requests is apart from the
// fast 503s of a shedding server.
import { createRequire } from 'node:module';
import { z } from 'zod';
import { summarizeLatencies } from './stats.ts';

export const LoadPlanSchema = z.object({
  origin: z.url(),
  paths: z.array(z.string().startsWith('/')).min(1),
  connections: z.int().positive(),
  durationSeconds: z.number().positive(),
  warmupSeconds: z.number().nonnegative(),
  timeoutSeconds: z.number().positive(),
});
export type LoadPlan = z.infer<typeof LoadPlanSchema>;

const SummarySchema = z.object({
  count: z.int(),
  p50Ms: z.number().optional(),
  p99Ms: z.number().optional(),
  maxMs: z.number().optional(),
});

export const LoadResultSchema = z.object({
  elapsedSeconds: z.number(),
  statusCounts: z.record(z.string(), z.int()),
  errors: z.record(z.string(), z.int()),
  ok: SummarySchema,
  other: SummarySchema,
});
export type LoadResult = z.infer<typeof LoadResultSchema>;

/** The line the generator prints when the measured phase starts, so the harness can read CPU. */
export const MEASURING = 'measuring';

// The subset of autocannon's API used here (it ships no types).
interface Instance {
  on(event: 'response', listener: (client: unknown, status: number, bytes: number, ms: number) => void): void;
  on(event: 'reqError', listener: (error: Error & { code?: string }) => void): void;
  on(event: 'done', listener: () => void): void;
  stop(): void;
}
interface Request {
  method: 'GET';
  setupRequest: (request: Record<string, unknown>) => Record<string, unknown>;
}
type Autocannon = (options: Record<string, unknown>, done: (error: Error | null) => void) => Instance;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

/** One request template whose path advances a counter shared by all connections, so that the
 *  connections spread over the corpus instead of all asking for the same key at once. */
function cyclingRequests(paths: readonly string[]): Request[] {
  let next = 0;
  return [
    {
      method: 'GET',
      setupRequest: (request) => ({ ...request, path: paths[next++ % paths.length] }),
    },
  ];
}

async function drive(plan: LoadPlan, connections: number, seconds: number, record: boolean): Promise<LoadResult> {
  const statusCounts: Record<string, number> = {};
  const errors: Record<string, number> = {};
  const ok: number[] = [];
  const other: number[] = [];
  const started = performance.now();
  await new Promise<void>((resolve, reject) => {
    const instance = autocannon(
      {
        url: plan.origin,
        connections,
        duration: seconds,
        timeout: plan.timeoutSeconds,
        requests: cyclingRequests(plan.paths),
      },
      (error) => (error ? reject(error) : resolve()),
    );
    if (!record) return;
    instance.on('response', (_client, status, _bytes, ms) => {
      statusCounts[status] = (statusCounts[status] ?? 0) + 1;
      (status === 200 ? ok : other).push(ms);
    });
    instance.on('reqError', (error) => {
      const key = error.code ?? (error.message === 'request timed out' ? 'timeout' : error.message);
      errors[key] = (errors[key] ?? 0) + 1;
    });
  });
  return {
    elapsedSeconds: (performance.now() - started) / 1000,
    statusCounts,
    errors,
    ok: summarizeLatencies(ok),
    other: summarizeLatencies(other),
  };
}

export async function generateLoad(plan: LoadPlan, onMeasuring: () => void): Promise<LoadResult> {
  if (plan.warmupSeconds > 0) {
    await drive(plan, Math.min(plan.connections, 4), plan.warmupSeconds, false);
  }
  onMeasuring();
  return drive(plan, plan.connections, plan.durationSeconds, true);
}

if (import.meta.main) {
  const plan = LoadPlanSchema.parse(JSON.parse(process.argv[2] ?? 'null'));
  const result = await generateLoad(plan, () => process.stdout.write(`${MEASURING}\n`));
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
