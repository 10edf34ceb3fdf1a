// `npm run bench`: the benchmarks behind docs/benchmarks.md. Pins itself to core 0 (with the
// load generator), lays out the corpus, runs the chosen scenario, writes its JSON under .bench/
// and prints the markdown.
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
import { type Options, parseOptions } from './options.ts';
import { runQuotaStudy } from './quota.ts';
import { renderQuota, renderReport, renderSoak, renderThreadStudy } from './report.ts';
import type { BenchRun, RunMeta } from './results.ts';
import { runSoak } from './soak.ts';
import { runThreadStudy } from './threads.ts';

/** Linked names per photograph: more distinct keys than the largest connection count. */
const COPIES = 128;

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

async function main(): Promise<void> {
  const repoRoot = fileURLToPath(new URL('..', import.meta.url));
  const options = parseOptions(process.argv.slice(2), repoRoot);
  pinSelf();
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
    const markdown = renderReport(run, QUEUE_TIMEOUT_MS);
    save(options, run, markdown);
    process.stdout.write(markdown);
  } else if (options.scenario === 'threads') {
    const study = await runThreadStudy(options, corpus, progress);
    const run = { ...base, study, finishedAt: new Date().toISOString() };
    const markdown = renderThreadStudy(run);
    save(options, run, markdown);
    process.stdout.write(markdown);
  } else if (options.scenario === 'quota') {
    const quota = await runQuotaStudy(options, corpus, progress);
    const run = { ...base, quota, finishedAt: new Date().toISOString() };
    const markdown = renderQuota(run);
    save(options, run, markdown);
    process.stdout.write(markdown);
  } else if (options.scenario === 'attacks') {
    const attacks = await runAttacks(options, corpus, progress);
    const markdown = renderAttacks(attacks);
    const run: RunMeta & { attacks: typeof attacks } = { ...base, attacks, finishedAt: new Date().toISOString() };
    save(options, run, markdown);
    process.stdout.write(markdown);
  } else {
    const soak = await runSoak(options, corpus, progress);
    const run = { ...base, soak, finishedAt: new Date().toISOString() };
    const markdown = renderSoak(run);
    save(options, run, markdown);
    process.stdout.write(markdown);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
