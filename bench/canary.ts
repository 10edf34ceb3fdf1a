// The canary's timings and its cost to clients, in the sandbox with real image-service processes,
// the mesh, the operator and steady load (docs/benchmarks.md, "Canary rollouts"):
//  - image change -> Succeeded, against the configured minimum (steps x interval);
//  - SLO break (a -slow canary starts taking traffic) -> rolled back, against threshold x interval;
//  - failed requests during the promotion and during the rollback (both must be 0).
// Usage: npx node bench/canary.ts [--runs 3] [--provider prometheus|direct|both]
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { changeImage, deploy, INTERVAL_MS, imageService, type Lab, LOAD, NEW_IMAGE, type Recorder, ROLLOUT_TIMEOUT_MS, STEPS, startLab, startLoad, THRESHOLD } from '../sandbox/demo/lab.ts';
import { eventsOf, type Ref, track, waitFor } from '../sandbox/demo/rollout.ts';

const Options = z.object({
  runs: z.coerce.number().int().min(1).max(20),
  provider: z.enum(['prometheus', 'direct', 'both']),
});

interface Run {
  /** ms from the image change to the first weight routed to the canary. */
  canaryStart: number;
  /** ms from the first routed weight to the end: Succeeded (promotion) or the route back to primary (rollback). */
  analysis: number;
  /** ms from the image change to the end. */
  total: number;
  requests: number;
  failed: number;
  phase: string;
  /** The status message at the end, and the Warning Events (why a check failed). */
  message: string;
  warnings: string[];
}

function progress(line: string): void {
  process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
}

/** When the recorder first saw `pred` hold. */
function firstAt(rec: Recorder, pred: (s: Recorder['samples'][number]) => boolean, what: string): number {
  const s = rec.samples.find(pred);
  if (s === undefined) throw new Error(`the rollout never showed ${what}`);
  return s.at;
}

async function waitCanaryGone(lab: Lab, ref: Ref): Promise<void> {
  await waitFor('the canary to be scaled to 0', async () => (await track(lab.sandbox.client, ref, 'canary'))?.replicas === 0, 30_000);
}

/** One rollout of `image` under steady load, timed from the recorder's samples. */
async function rollout(lab: Lab, name: string, image: string, end: 'Succeeded' | 'Failed'): Promise<Run> {
  const ref = await deploy(lab, imageService(name));
  const load = startLoad(lab, ref, 180_000);
  try {
    await new Promise((r) => setTimeout(r, 1_000));
    load.mark('change');
    const t0 = Date.now();
    const rec = await changeImage(lab, ref, image);
    const done = await rec.until(['Succeeded', 'Failed'], ROLLOUT_TIMEOUT_MS);
    await waitCanaryGone(lab, ref);
    load.mark('idle');
    const routed = firstAt(rec, (s) => (s.route?.canary ?? 0) > 0, 'a weight on the canary');
    // The end: Succeeded for a promotion; for a rollback (wanted or not), the route back to primary.
    const finished =
      end === 'Succeeded' && done.status.phase === 'Succeeded'
        ? firstAt(rec, (s) => s.phase === 'Succeeded', 'Succeeded')
        : firstAt(rec, (s) => s.at > routed && s.route?.canary === 0, 'the route back to primary');
    const counts = load.counts('change', 'idle');
    const warnings = (await eventsOf(lab.sandbox.client, ref)).filter((e) => e.type === 'Warning').map((e) => `${e.reason}: ${e.message}`);
    return {
      canaryStart: routed - t0,
      analysis: finished - routed,
      total: finished - t0,
      requests: counts.requests,
      failed: counts.failed,
      phase: done.status.phase ?? '-',
      message: done.status.message ?? '',
      warnings,
    };
  } finally {
    await load.stop();
    await lab.retire();
  }
}

function stats(values: number[]): string {
  if (values.length === 0) return '-';
  const sorted = [...values].sort((a, b) => a - b);
  const median = sorted[Math.floor((sorted.length - 1) / 2)] ?? 0;
  const s = (ms: number) => (ms / 1000).toFixed(1);
  return sorted.length === 1 ? `${s(median)} s` : `${s(median)} s (${s(sorted[0] ?? 0)}–${s(sorted[sorted.length - 1] ?? 0)})`;
}

function rows(provider: string, promotions: Run[], rollbacks: Run[]): string[] {
  const minPromotion = STEPS.length * INTERVAL_MS;
  const minRollback = THRESHOLD * INTERVAL_MS;
  const sum = (runs: Run[], k: 'requests' | 'failed') => runs.reduce((a, r) => a + r[k], 0);
  // Timings are of the runs that ended as intended; the outcome column counts the others.
  const promoted = promotions.filter((r) => r.phase === 'Succeeded');
  const rolledBack = rollbacks.filter((r) => r.phase === 'Failed');
  const outcome = (runs: Run[]) => {
    const by = new Map<string, number>();
    for (const r of runs) by.set(r.phase, (by.get(r.phase) ?? 0) + 1);
    return [...by].map(([phase, n]) => `${n} ${phase}`).join(', ');
  };
  return [
    `| ${provider} | promotion: image change -> Succeeded | ${stats(promoted.map((r) => r.total))} | ${STEPS.length} steps x ${INTERVAL_MS / 1000} s = ${minPromotion / 1000} s | ${outcome(promotions)} |`,
    `| ${provider} | of which: canary pod start -> first weight | ${stats(promoted.map((r) => r.canaryStart))} | | |`,
    `| ${provider} | of which: first weight -> Succeeded (analysis, promotion, finalising) | ${stats(promoted.map((r) => r.analysis))} | ${minPromotion / 1000} s | |`,
    `| ${provider} | failed requests during promotion | ${sum(promotions, 'failed')} of ${sum(promotions, 'requests')} | 0 | |`,
    `| ${provider} | rollback: -slow canary takes traffic -> route back to primary | ${stats(rolledBack.map((r) => r.analysis))} | threshold ${THRESHOLD} x ${INTERVAL_MS / 1000} s = ${minRollback / 1000} s | ${outcome(rollbacks)} |`,
    `| ${provider} | failed requests during rollback | ${sum(rollbacks, 'failed')} of ${sum(rollbacks, 'requests')} | 0 | |`,
  ];
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' }, provider: { type: 'string', default: 'both' } } });
  const options = Options.parse(values);
  const providers = options.provider === 'both' ? (['prometheus', 'direct'] as const) : [options.provider];
  const table = [
    `Steady load ${LOAD.ratePerSecond} requests/s over ${LOAD.concurrency} keep-alive connections through the mesh; 1 replica; stepWeights [${STEPS.join(', ')}], interval ${INTERVAL_MS / 1000} s, threshold ${THRESHOLD}; ${options.runs} run(s) each, median (min–max).`,
    '',
    '| provider | measurement | result | configured minimum | outcome |',
    '| --- | --- | --- | --- | --- |',
  ];
  for (const provider of providers) {
    progress(`starting a sandbox ${provider === 'prometheus' ? 'with' : 'without'} Prometheus`);
    const lab = await startLab(provider === 'prometheus' ? 'required' : 'off');
    try {
      const promotions: Run[] = [];
      const rollbacks: Run[] = [];
      for (let i = 0; i < options.runs; i++) {
        promotions.push(await rollout(lab, `promote-${i}`, NEW_IMAGE, 'Succeeded'));
        progress(`${provider} promotion ${i + 1}: ${JSON.stringify(promotions.at(-1))}`);
        rollbacks.push(await rollout(lab, `rollback-${i}`, `${NEW_IMAGE}-slow`, 'Failed'));
        progress(`${provider} rollback ${i + 1}: ${JSON.stringify(rollbacks.at(-1))}`);
      }
      table.push(...rows(provider, promotions, rollbacks));
    } finally {
      await lab.stop();
    }
  }
  process.stdout.write(`${table.join('\n')}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench/canary: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
