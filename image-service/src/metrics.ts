import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import sharp from 'sharp';
import { type Admission, REJECT_REASONS } from './admission.ts';

/**
 * The service's Prometheus metrics (names fixed in docs/architecture.md, "Image service metrics"; the operator's `direct` canary
 * provider reads the request counter and the duration histogram). One registry per server, so
 * tests can run several in one process. Per-request labels are resolved once and kept: the hot
 * path does a Map lookup, not prom-client's label hashing.
 */

export type Route = 'image' | 'healthz' | 'readyz' | 'metrics' | 'other';

/** Dense around the canary SLOs (hundreds of ms), wide enough for a queued 2560px resize. */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30];
const MIB = 1024 * 1024;

/** A gauge read at each scrape. */
export function readGauge(registry: Registry, name: string, help: string, read: () => number): void {
  new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      this.set(read());
    },
  });
}

export class Metrics {
  readonly registry = new Registry();
  readonly #requests: Counter<'route' | 'code'>;
  readonly #duration: Histogram<'route'>;
  readonly #rejected: Counter<'reason'>;
  readonly #cacheHits: Counter;
  readonly #transforms: Counter;
  readonly #requestChildren = new Map<string, { inc: () => void }>();
  readonly #durationChildren = new Map<Route, { observe: (seconds: number) => void }>();

  constructor(version: string, admission: Admission) {
    const registers = [this.registry];
    this.#requests = new Counter({ name: 'image_service_http_requests_total', help: 'HTTP requests answered, by route and status code.', labelNames: ['route', 'code'], registers });
    this.#duration = new Histogram({
      name: 'image_service_http_request_duration_seconds',
      help: 'Time from request to the end of the answer, by route.',
      labelNames: ['route'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.#rejected = new Counter({ name: 'image_service_rejected_total', help: 'Requests refused by admission (503), by reason.', labelNames: ['reason'], registers });
    this.#cacheHits = new Counter({ name: 'image_service_cache_hits_total', help: 'Answers served from the result cache.', registers });
    this.#transforms = new Counter({ name: 'image_service_transforms_total', help: 'Resizes actually run by libvips (not coalesced, not cached, not 304).', registers });
    new Gauge({ name: 'image_service_build_info', help: 'The running version.', labelNames: ['version'], registers }).set({ version }, 1);
    const gauge = (name: string, help: string, read: () => number) => readGauge(this.registry, name, help, read);
    gauge('image_service_inflight', 'Requests holding a worker slot.', () => admission.inflight);
    gauge('image_service_queue_length', 'Requests waiting for a worker slot.', () => admission.queued);
    gauge('image_service_inflight_peak', 'Most requests that held a worker slot at once since start.', () => admission.peakInflight);
    gauge('image_service_queue_length_peak', 'Most requests waiting for a worker slot at once since start.', () => admission.peakQueued);
    gauge('image_service_workers', 'Worker slots (IMAGE_SERVICE_WORKERS).', () => admission.slots);
    gauge('image_service_vips_memory_bytes', 'Memory libvips tracks as allocated now (MiB resolution).', () => sharp.cache().memory.current * MIB);
    gauge('image_service_vips_memory_peak_bytes', 'Most memory libvips tracked as allocated since start (MiB resolution).', () => sharp.cache().memory.high * MIB);
    new Gauge({
      name: 'image_service_sharp_tasks',
      help: "sharp's tasks waiting for or running on a libuv thread.",
      labelNames: ['state'],
      registers,
      collect() {
        const { queue, process } = sharp.counters();
        this.set({ state: 'queued' }, queue);
        this.set({ state: 'running' }, process);
      },
    });
    collectDefaultMetrics({ register: this.registry });
    // Every reason exported from the start (at 0), so a dashboard's rate reads 0, not "no data".
    for (const reason of REJECT_REASONS) this.#rejected.inc({ reason }, 0);
    admission.onReject = (reason) => this.#rejected.inc({ reason });
  }

  /** One answered request. */
  observe(route: Route, code: number, seconds: number): void {
    const key = `${route}:${code}`;
    let counter = this.#requestChildren.get(key);
    if (counter === undefined) {
      counter = this.#requests.labels({ route, code: String(code) });
      this.#requestChildren.set(key, counter);
    }
    counter.inc();
    let histogram = this.#durationChildren.get(route);
    if (histogram === undefined) {
      histogram = this.#duration.labels({ route });
      this.#durationChildren.set(route, histogram);
    }
    histogram.observe(seconds);
  }

  transformed(): void {
    this.#transforms.inc();
  }

  cacheHit(): void {
    this.#cacheHits.inc();
  }
}
