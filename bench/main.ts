// `npm run bench`: the benchmarks behind docs/benchmarks.md. Pins itself to core 0 (with the
// load generator) unless the scenario runs a sandbox or a check free on every core, lays out the
// corpus, runs the chosen scenario, writes its JSON under .bench/ and prints the markdown.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderAttacks, runAttacks } from './attacks.ts';
import { LOAD_CPUS } from './cell.ts';
import { estimateSeconds, planComparison, runComparison } from './compare.ts';
import { QUEUE_TIMEOUT_MS } from './contenders.ts';
import { prepareCorpus } from './corpus.ts';
import { describeMachine } from './machine.ts';
import { runMirrorStudy } from './mirror.ts';
import { type Options, parseOptions } from './options.ts';
import { runOutputCheck } from './output-check.ts';
import { runQuotaStudy } from './quota.ts';
import { runRecentRecord } from './recent-record.ts';
import { renderMirror, renderOutputCheck, renderQuota, renderRecentRecord, renderReport, renderSoak, renderThreadStudy } from './report.ts';
import type { BenchRun, RunMeta } from './results.ts';
import { runSoak } from './soak.ts';
import { runThreadStudy } from './threads.ts';

/** Linked names per photograph: more distinct keys than the largest connection count. */
const COPIES = 128;
/** Scenarios whose processes run on every core, as a node's pods and an operator do: they inherit no pinning. */
const UNPINNED: readonly Options['scenario'][] = ['mirror', 'output-check'];

function progress(line: string): void {
  process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
}

function pinSelf(): void {
  try {
    execFileSync('taskset', ['-a', '-p', '-c', LOAD_CPUS, String(process.pid)], { stdio: 'ignore' });
  } catch {
    throw new Error('taskset is required to pin the servers and the load generator to their cores: apt-get install -y util-linux');
  }
}

function save(options: Options, run: RunMeta, markdown: string): void {
  mkdirSync(options.out, { recursive: true });
  const stamp = run.startedAt.replace(/[:.]/g, '-');
  writeFileSync(join(options.out, `${run.scenario}-${stamp}.json`), `${JSON.stringify(run, null, 2)}\n`);
  writeFileSync(join(options.out, `${run.scenario}-latest.json`), `${JSON.stringify(run, null, 2)}\n`);
  writeFileSync(join(options.out, `${run.scenario}-latest.md`), markdown);
  progress(`results: ${join(options.out, `${run.scenario}-${stamp}.json`)} and ${run.scenario}-latest.md`);
}

/** Saves the run and prints its markdown. */
function publish<R extends RunMeta>(options: Options, run: R, render: (run: R) => string): void {
  const markdown = render(run);
  save(options, run, markdown);
  process.stdout.write(markdown);
}

async function main(): Promise<void> {
  const repoRoot = fileURLToPath(new URL('..', import.meta.url));
  const options = parseOptions(process.argv.slice(2), repoRoot);
  if (!UNPINNED.includes(options.scenario)) pinSelf();
  const startedAt = new Date().toISOString();
  const machine = describeMachine(repoRoot);
  progress(`corpus: ${options.corpus ?? 'synthetic photographs (no corpus directory found)'}`);
  const corpus = await prepareCorpus({ source: options.corpus, workDir: options.out, copies: COPIES });
  const base = {
    scenario: options.scenario,
    startedAt,
    command: process.argv.length > 2 ? `npm run bench -- ${process.argv.slice(2).join(' ')}` : 'npm run bench',
    machine,
    corpus: { origin: options.corpus ?? 'synthetic', synthetic: corpus.synthetic, photographs: (corpus.photos.length + corpus.large.length) / COPIES },
  };
  if (options.scenario === 'compare') {
    const plan = planComparison(options);
    progress(`${plan.steps.length} cells, about ${Math.ceil(estimateSeconds(plan) / 60)} minutes`);
    const results = await runComparison(plan, corpus, options, progress);
    const run: BenchRun = { ...base, ...results, finishedAt: new Date().toISOString() };
    publish(options, run, (r) => renderReport(r, QUEUE_TIMEOUT_MS));
  } else if (options.scenario === 'threads') {
    publish(options, { ...base, study: await runThreadStudy(options, corpus, progress), finishedAt: new Date().toISOString() }, renderThreadStudy);
  } else if (options.scenario === 'quota') {
    publish(options, { ...base, quota: await runQuotaStudy(options, corpus, progress), finishedAt: new Date().toISOString() }, renderQuota);
  } else if (options.scenario === 'mirror') {
    publish(options, { ...base, mirror: await runMirrorStudy(options, progress), finishedAt: new Date().toISOString() }, renderMirror);
  } else if (options.scenario === 'output-check') {
    publish(options, { ...base, outputCheck: await runOutputCheck(corpus, progress), finishedAt: new Date().toISOString() }, renderOutputCheck);
  } else if (options.scenario === 'recent-record') {
    publish(options, { ...base, recentRecord: runRecentRecord(progress), finishedAt: new Date().toISOString() }, renderRecentRecord);
  } else if (options.scenario === 'attacks') {
    const attacks = await runAttacks(options, corpus, progress);
    publish(options, { ...base, attacks, finishedAt: new Date().toISOString() }, () => renderAttacks(attacks));
  } else {
    publish(options, { ...base, soak: await runSoak(options, corpus, progress), finishedAt: new Date().toISOString() }, renderSoak);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
