import type { RunMeta } from './results.ts';

/** A run's header as the reports print it: a fixed machine and corpus, so that tests compare text. */
export function runMeta(scenario: string, startedAt: string, finishedAt: string, command: string): RunMeta {
  return {
    scenario,
    startedAt,
    finishedAt,
    command,
    machine: { cpuModel: 'cpu', cores: 2, memoryGiB: 24, kernel: '6', node: 'v24', sharp: '0.35', libvips: '8.18', tools: {}, loadAverage: [0.1, 0.2, 0.3] },
    corpus: { origin: 'corpus', synthetic: false, photographs: 9 },
  };
}
