// The workloads every contender runs: which source photographs, and what to make of them.
export type OutputFormat = 'jpeg' | 'webp' | 'avif';

export interface Workload {
  id: string;
  label: string;
  /** 'photos': the 2560x1600 photographs; 'large': the 5120x2880 one. */
  source: 'photos' | 'large';
  width: number;
  format: OutputFormat;
  quality: number;
  /** Run only when asked for (AVIF encoding is several times slower than the rest). */
  optIn: boolean;
  /** Measured time relative to the others: slow images need longer for as many answers. */
  durationScale: number;
}

export const WORKLOADS: readonly Workload[] = [
  { id: 'jpeg640', label: '2560x1600 JPEG to 640w JPEG q80', source: 'photos', width: 640, format: 'jpeg', quality: 80, optIn: false, durationScale: 1 },
  { id: 'webp640', label: '2560x1600 JPEG to 640w WebP q80', source: 'photos', width: 640, format: 'webp', quality: 80, optIn: false, durationScale: 1 },
  { id: 'large1280', label: '5120x2880 JPEG to 1280w JPEG q80', source: 'large', width: 1280, format: 'jpeg', quality: 80, optIn: false, durationScale: 2 },
  { id: 'avif640', label: '2560x1600 JPEG to 640w AVIF q80', source: 'photos', width: 640, format: 'avif', quality: 80, optIn: true, durationScale: 1 },
];

export function workloadById(id: string): Workload {
  const workload = WORKLOADS.find((w) => w.id === id);
  if (!workload) throw new Error(`unknown workload "${id}"; known: ${WORKLOADS.map((w) => w.id).join(', ')}`);
  return workload;
}
