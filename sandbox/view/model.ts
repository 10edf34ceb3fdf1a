// What the rollout view shows, per ImageService: its status as the API server holds it, the
// canary weight over time, p99 latency, 5xx share and requests per second of each revision (from
// the analysis provider), and its Events. Pure and bounded: every list has a cap, every string a
// length, so whatever a tenant writes into an ImageService or an Event costs the view no more.
import { z } from 'zod';
import { ImageServiceStatusSchema } from '../../operator/src/api/image-service.ts';
import { EventSchema } from '../demo/rollout.ts';

export const LIMITS = {
  /** ImageServices shown; more are counted, not shown. */
  services: 20,
  /** Points per series: at one a second, the last half hour. */
  points: 1800,
  events: 50,
  /** Characters of a message, reason or image. */
  text: 512,
} as const;

export const TRACKS = ['primary', 'canary'] as const;
export type Track = (typeof TRACKS)[number];

/** One measurement of one revision: p99 in ms, 5xx share in percent, requests per second (null: no data). */
export interface Sample {
  t: number;
  p99Ms: number | null;
  errorPercent: number | null;
  rps: number | null;
}

export interface ViewEvent {
  t: number;
  type: string;
  reason: string;
  message: string;
  count: number;
}

export interface ServiceView {
  namespace: string;
  name: string;
  phase: string;
  weight: number;
  message: string;
  images: Record<Track, string>;
  slo: { latencyP99Ms: number | null; errorRatePercent: number | null };
  /** [seconds, weight] at every change of weight, and now. */
  weights: [number, number][];
  samples: Record<Track, Sample[]>;
  events: ViewEvent[];
}

export interface ViewState {
  provider: 'prometheus' | 'direct';
  now: number;
  services: ServiceView[];
  /** ImageServices beyond LIMITS.services. */
  hidden: number;
}

const cut = (s: string | undefined | null): string => {
  const v = s ?? '';
  return v.length > LIMITS.text ? `${v.slice(0, LIMITS.text - 1)}…` : v;
};

const finite = (v: number | null | undefined): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** The parts of an ImageService the view reads; anything else it may hold is ignored. */
const ImageServiceView = z.looseObject({
  metadata: z.looseObject({ name: z.string(), namespace: z.string().optional() }),
  spec: z.looseObject({
    image: z.string().optional(),
    canary: z.looseObject({ analysis: z.looseObject({ latencyP99Ms: z.number().optional(), errorRatePercent: z.number().optional() }).optional() }).optional(),
  }),
  status: z.unknown().optional(),
});

const keyOf = (namespace: string, name: string) => `${namespace}/${name}`;

/** The view's memory: fed ImageServices, Events and samples; read as a ViewState. */
export class RolloutModel {
  readonly #services = new Map<string, ServiceView>();
  readonly #provider: ViewState['provider'];

  constructor(provider: ViewState['provider']) {
    this.#provider = provider;
  }

  /** An ImageService as listed or watched (at time `t`, seconds). An object the view cannot read is left out. */
  observe(object: unknown, t: number): void {
    const parsed = ImageServiceView.safeParse(object);
    if (!parsed.success) return;
    const isvc = parsed.data;
    const namespace = isvc.metadata.namespace ?? 'default';
    const key = keyOf(namespace, isvc.metadata.name);
    const status = ImageServiceStatusSchema.safeParse(isvc.status ?? {});
    const st = status.success ? status.data : {};
    let view = this.#services.get(key);
    if (view === undefined) {
      view = {
        namespace,
        name: isvc.metadata.name,
        phase: '',
        weight: 0,
        message: '',
        images: { primary: '', canary: '' },
        slo: { latencyP99Ms: null, errorRatePercent: null },
        weights: [],
        samples: { primary: [], canary: [] },
        events: [],
      };
      this.#services.set(key, view);
    }
    view.phase = cut(st.phase ?? '');
    view.weight = st.canaryWeight ?? 0;
    view.message = cut(st.message);
    view.images = { primary: cut(st.primary?.image ?? isvc.spec.image), canary: cut(st.canary?.image) };
    const analysis = isvc.spec.canary?.analysis;
    view.slo = { latencyP99Ms: finite(analysis?.latencyP99Ms), errorRatePercent: finite(analysis?.errorRatePercent) };
    const last = view.weights[view.weights.length - 1];
    if (last === undefined || last[1] !== view.weight) push(view.weights, [t, view.weight]);
  }

  forget(namespace: string, name: string): void {
    this.#services.delete(keyOf(namespace, name));
  }

  /** The ImageServices being followed. */
  services(): { namespace: string; name: string }[] {
    return [...this.#services.values()].map((s) => ({ namespace: s.namespace, name: s.name }));
  }

  sample(namespace: string, name: string, track: Track, sample: Sample): void {
    const view = this.#services.get(keyOf(namespace, name));
    if (view === undefined) return;
    push(view.samples[track], { t: sample.t, p99Ms: finite(sample.p99Ms), errorPercent: finite(sample.errorPercent), rps: finite(sample.rps) });
  }

  /** Every Event of the cluster about an ImageService (a list replaces what was known). */
  events(objects: readonly unknown[]): void {
    const byService = new Map<string, ViewEvent[]>();
    for (const object of objects) {
      const parsed = EventSchema.safeParse(object);
      if (!parsed.success || parsed.data.involvedObject.kind !== 'ImageService') continue;
      const e = parsed.data;
      const key = keyOf(e.involvedObject.namespace ?? 'default', e.involvedObject.name ?? '');
      const when = Date.parse(e.lastTimestamp ?? e.eventTime ?? e.metadata?.creationTimestamp ?? '');
      const list = byService.get(key) ?? [];
      list.push({ t: Number.isFinite(when) ? when / 1000 : 0, type: cut(e.type ?? 'Normal'), reason: cut(e.reason), message: cut(e.message), count: e.count ?? 1 });
      byService.set(key, list);
    }
    for (const [key, view] of this.#services) {
      view.events = (byService.get(key) ?? []).sort((a, b) => a.t - b.t).slice(-LIMITS.events);
    }
  }

  /** What the page gets: the current weight extends its step to now. */
  state(now: number): ViewState {
    const all = [...this.#services.values()].sort((a, b) => keyOf(a.namespace, a.name).localeCompare(keyOf(b.namespace, b.name)));
    const services = all.slice(0, LIMITS.services).map((s) => ({ ...s, weights: [...s.weights, [now, s.weight] as [number, number]] }));
    return { provider: this.#provider, now, services, hidden: all.length - services.length };
  }
}

function push<T>(list: T[], item: T): void {
  list.push(item);
  if (list.length > LIMITS.points) list.splice(0, list.length - LIMITS.points);
}
