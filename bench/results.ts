// The record of one benchmark run, written as JSON under .bench/ and read back by the report.
import type { ServerCell } from './cell.ts';

/** A contender measured without HTTP: sharp's in-process loop (the ceiling) or vipsthumbnail. */
export interface BatchCell {
  contender: 'sharp in-process' | 'vipsthumbnail';
  budget: number;
  workload: string;
  imagesPerSecond: number;
  cpuSecondsPer1000: number;
  peakRssBytes: number;
  /** Other processes' CPU on its cores (share of one core), where measured. */
  foreignCpu: number | undefined;
  /** Images per second of every run when measured more than once (this cell is the median one). */
  runs?: number[];
}

export interface Skipped {
  contender: string;
  reason: string;
}

export interface Machine {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  kernel: string;
  node: string;
  sharp: string;
  libvips: string;
  tools: Record<string, string>;
  /** Load average at the start: the machine is shared, so say how busy it was. */
  loadAverage: number[];
}

/** What every scenario's record starts with. */
export interface RunMeta {
  scenario: string;
  startedAt: string;
  finishedAt: string;
  command: string;
  machine: Machine;
  corpus: { origin: string; synthetic: boolean; photographs: number };
}

export interface BenchRun extends RunMeta {
  batches: BatchCell[];
  servers: ServerCell[];
  skipped: Skipped[];
}
