// The command line of `npm run bench`, validated with zod.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { WORKLOADS } from './workloads.ts';

export const SCENARIOS = ['compare', 'threads', 'soak', 'quota', 'attacks', 'mirror', 'output-check', 'recent-record'] as const;

const csv = z.string().transform((s) =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x !== ''),
);

const Flags = z.object({
  scenario: z.enum(SCENARIOS, { error: `--scenario: expected one of ${SCENARIOS.join(', ')}` }).default('compare'),
  corpus: z.string().optional(),
  quick: z.boolean().default(false),
  avif: z.boolean().default(false),
  connections: csv.pipe(z.array(z.string().regex(/^\d+$/, 'expected whole numbers, comma-separated').transform(Number).pipe(z.number().int().positive())).min(1)).optional(),
  duration: z.coerce.number().positive().max(3600).optional(),
  workloads: csv.pipe(z.array(z.enum(WORKLOADS.map((w) => w.id) as [string, ...string[]])).min(1)).optional(),
  contenders: csv.pipe(z.array(z.string()).min(1)).optional(),
  repeats: z.coerce.number().int().min(1).max(9).optional(),
  out: z.string().default('.bench'),
});

export interface Options {
  scenario: (typeof SCENARIOS)[number];
  /** The photographs' directory, or undefined for synthetic ones. */
  corpus: string | undefined;
  quick: boolean;
  avif: boolean;
  connections: number[] | undefined;
  /** Measured seconds per cell (the soak: its whole length; mirror: per window). */
  duration: number | undefined;
  workloads: string[] | undefined;
  contenders: string[] | undefined;
  /** Runs of each cell a target ratio is taken from (the ceiling, this service, ipx); the median is kept. Mirror: rounds. */
  repeats: number | undefined;
  /** The working directory for results, logs and the laid-out corpus. */
  out: string;
  repoRoot: string;
}

export const USAGE = `npm run bench -- [--scenario compare|threads|soak|quota|attacks|mirror|output-check|recent-record] [--quick] [--corpus DIR] [--avif]
  [--connections 2,16,256,1000] [--duration SECONDS] [--workloads jpeg640,webp640,large1280,avif640]
  [--contenders image-service,naive,ipx,php-imagick,php-imagick-hint,sharp,vipsthumbnail] [--repeats N] [--out DIR]

--corpus defaults to ../shared/corpus beside the repository when it exists, else synthetic
photographs generated with sharp (cached under .bench/).
--repeats (default 3, 1 with --quick) measures the ceiling, this service and ipx that many times
per cell and keeps the median: their ratios decide targets a few percent wide.
mirror: --repeats rounds (default 6, 2 with --quick) of four --duration windows (default 10 s,
5 with --quick): no mirror, and mirrored to a canary sharing the CPU, at the least CPU weight,
in SCHED_IDLE.`;

export function parseOptions(argv: readonly string[], repoRoot: string): Options {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      scenario: { type: 'string' },
      corpus: { type: 'string' },
      quick: { type: 'boolean' },
      avif: { type: 'boolean' },
      connections: { type: 'string' },
      duration: { type: 'string' },
      workloads: { type: 'string' },
      contenders: { type: 'string' },
      repeats: { type: 'string' },
      out: { type: 'string' },
    },
    strict: true,
  });
  const parsed = Flags.safeParse(values);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`--${String(issue?.path[0] ?? '?')}: ${issue?.message ?? 'invalid'}\n${USAGE}`);
  }
  const flags = parsed.data;
  let corpus: string | undefined;
  if (flags.corpus !== undefined) {
    corpus = resolve(flags.corpus);
    if (!existsSync(corpus)) throw new Error(`--corpus: ${corpus} does not exist`);
  } else {
    const beside = resolve(repoRoot, '../shared/corpus');
    corpus = existsSync(beside) ? beside : undefined;
  }
  return {
    scenario: flags.scenario,
    corpus,
    quick: flags.quick,
    avif: flags.avif,
    connections: flags.connections,
    duration: flags.duration,
    workloads: flags.workloads,
    contenders: flags.contenders,
    repeats: flags.repeats,
    out: resolve(repoRoot, flags.out),
    repoRoot,
  };
}
