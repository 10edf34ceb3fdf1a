import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseOptions } from './options.ts';

const base = mkdtempSync(join(tmpdir(), 'bench-options-'));
const withCorpus = join(base, 'with', 'repo');
const without = join(base, 'without', 'repo');
mkdirSync(withCorpus, { recursive: true });
mkdirSync(join(base, 'with', 'shared', 'corpus'), { recursive: true });
mkdirSync(without, { recursive: true });
afterAll(() => rmSync(base, { recursive: true, force: true }));

describe('parseOptions', () => {
  it('defaults to the comparison over ../shared/corpus when it is beside the repository', () => {
    const o = parseOptions([], withCorpus);
    expect(o).toMatchObject({ scenario: 'compare', quick: false, avif: false, corpus: join(base, 'with', 'shared', 'corpus'), out: join(withCorpus, '.bench') });
  });

  it('falls back to synthetic photographs without one', () => {
    expect(parseOptions([], without).corpus).toBeUndefined();
  });

  it('reads lists, numbers and switches', () => {
    const o = parseOptions(['--scenario', 'threads', '--quick', '--connections', '2,16', '--duration', '7.5', '--workloads', 'webp640', '--contenders', 'ipx,naive'], without);
    expect(o).toMatchObject({ scenario: 'threads', quick: true, connections: [2, 16], duration: 7.5, workloads: ['webp640'], contenders: ['ipx', 'naive'] });
  });

  it.each([['mirror'], ['output-check']])('takes the %s scenario', (scenario) => {
    expect(parseOptions(['--scenario', scenario, '--repeats', '4', '--duration', '10'], without)).toMatchObject({ scenario, repeats: 4, duration: 10 });
  });

  it.each([
    [['--scenario', 'fast'], /--scenario: expected one of compare, threads, soak, quota/],
    [['--connections', '16,lots'], /--connections: .*whole numbers/],
    [['--workloads', 'gif'], /--workloads/],
    [['--corpus', '/nonexistent/corpus'], /--corpus: \/nonexistent\/corpus does not exist/],
    [['--frobnicate'], /Unknown option '--frobnicate'/],
  ])('refuses %j with a message naming the flag', (argv, message) => {
    expect(() => parseOptions(argv, without)).toThrow(message);
  });
});
