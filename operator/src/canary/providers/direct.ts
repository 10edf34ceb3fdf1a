// The direct provider: no Prometheus. Scrape every ready canary pod's own /metrics, keep each
// pod's recent scrapes, and compute p99 and 5xx share from the deltas over the last interval,
// with Prometheus' histogram_quantile semantics so that both providers judge the same traffic
// alike.
import { fetchBounded } from './bounded-fetch.ts';
import { ExpositionError, parseExposition, type Sample } from './exposition.ts';
import { AnalysisError, type AnalysisRequest, type AnalysisTarget, type MetricsProvider, type Observations } from './provider.ts';
import { histogramQuantile } from './quantile.ts';

/** A canary pod to scrape. */
export interface PodEndpoint {
  /** The pod's name (or any stable identity of this pod instance). */
  pod: string;
  /** Base URL of the pod's HTTP port, e.g. http://10.1.2.3:8080. */
  url: string;
}

/** Finds the ready pods behind the canary Service. */
export type EndpointSource = (target: AnalysisTarget, signal?: AbortSignal) => Promise<PodEndpoint[]>;

export interface DirectProviderOptions {
  endpoints: EndpointSource;
  /** Longest wait for one pod's /metrics. */
  timeoutMs?: number;
  /** Largest /metrics page read from one pod. */
  maxBytes?: number;
  /** The `route` label values that count as traffic (the image routes; not probes or /metrics). */
  routes?: readonly string[];
  /** The clock scrapes are stamped with (tests). */
  now?: () => number;
}

export const DURATION_METRIC = 'image_service_http_request_duration_seconds';
export const REQUESTS_METRIC = 'image_service_http_requests_total';
const START_TIME_METRIC = 'process_start_time_seconds';
export const DEFAULT_ROUTES: readonly string[] = ['image'];
export const MAX_METRICS_PAGE_BYTES = 1024 * 1024;
/** Pods scraped at once: with the page cap, what one analysis may hold in memory. */
export const SCRAPE_CONCURRENCY = 8;

/** What one scrape of one pod says, summed over the counted routes. */
export interface PodCounters {
  /** process_start_time_seconds, when exposed: a change means the process restarted. */
  startTime: number | undefined;
  /** Cumulative histogram buckets, by upper bound. */
  buckets: Map<number, number>;
  requests: number;
  errors: number;
}

/** Reads the counters the analysis needs from a /metrics page. */
export function readCounters(text: string, routes: readonly string[]): PodCounters {
  const wanted = new Set([`${DURATION_METRIC}_bucket`, REQUESTS_METRIC, START_TIME_METRIC]);
  const samples: Sample[] = parseExposition(text, (name) => wanted.has(name));
  const counted = (s: Sample): boolean => s.labels.route !== undefined && routes.includes(s.labels.route);
  const counters: PodCounters = { startTime: undefined, buckets: new Map(), requests: 0, errors: 0 };
  for (const s of samples) {
    if (s.name === START_TIME_METRIC) {
      counters.startTime = s.value;
    } else if (s.name === REQUESTS_METRIC && counted(s)) {
      counters.requests += s.value;
      if (/^5\d\d$/.test(s.labels.code ?? '')) counters.errors += s.value;
    } else if (s.name === `${DURATION_METRIC}_bucket` && counted(s)) {
      const le = Number(s.labels.le === '+Inf' ? Number.POSITIVE_INFINITY : s.labels.le);
      if (Number.isNaN(le)) throw new ExpositionError(`${DURATION_METRIC}_bucket has an le label that is not a number`);
      counters.buckets.set(le, (counters.buckets.get(le) ?? 0) + s.value);
    }
  }
  return counters;
}

/**
 * What a pod served since the previous scrape. Without a previous scrape the pod is new to us
 * and everything it counted since it started is the delta. A restart (new start time, or any
 * counter going down) resets the baseline to zero, as Prometheus' rate() does.
 */
export function delta(current: PodCounters, previous: PodCounters | undefined): PodCounters {
  const restarted =
    previous === undefined ||
    (current.startTime !== undefined && previous.startTime !== undefined && current.startTime !== previous.startTime) ||
    current.requests < previous.requests ||
    current.errors < previous.errors ||
    [...previous.buckets].some(([le, count]) => (current.buckets.get(le) ?? 0) < count);
  if (restarted) return current;
  const buckets = new Map<number, number>();
  for (const [le, count] of current.buckets) buckets.set(le, count - (previous.buckets.get(le) ?? 0));
  return { startTime: current.startTime, buckets, requests: current.requests - previous.requests, errors: current.errors - previous.errors };
}

/** One scrape of one pod. */
interface Scrape {
  at: number;
  counters: PodCounters;
}

/**
 * The scrape to measure from: the one closest to an interval ago, ignoring those of the last
 * half interval. So a check that is run again (its status write failed, another replica took
 * over) measures the same interval rather than the moments since the first attempt; with no such
 * scrape the pod counts from its start.
 */
export function baseline(scrapes: readonly Scrape[], now: number, intervalMs: number): Scrape | undefined {
  let best: Scrape | undefined;
  for (const s of scrapes) {
    if (now - s.at < intervalMs / 2) continue;
    if (best === undefined || Math.abs(now - s.at - intervalMs) < Math.abs(now - best.at - intervalMs)) best = s;
  }
  return best;
}

/** p99 in ms, 5xx share in percent and request count of the summed deltas of all pods. */
export function observe(deltas: readonly PodCounters[]): Observations {
  const buckets = new Map<number, number>();
  let requests = 0;
  let errors = 0;
  for (const d of deltas) {
    requests += d.requests;
    errors += d.errors;
    for (const [le, count] of d.buckets) buckets.set(le, (buckets.get(le) ?? 0) + count);
  }
  const p99Seconds = histogramQuantile(
    0.99,
    [...buckets].map(([le, count]) => ({ le, count })),
  );
  return {
    requests: Math.round(requests),
    latencyP99Ms: p99Seconds * 1000,
    errorRatePercent: requests > 0 ? (errors / requests) * 100 : Number.NaN,
    metrics: {},
  };
}

export class DirectProvider implements MetricsProvider {
  readonly name = 'direct' as const;
  readonly #endpoints: EndpointSource;
  readonly #timeoutMs: number;
  readonly #maxBytes: number;
  readonly #routes: readonly string[];
  /** Recent scrapes of each pod, per canary Service ("namespace/service"). */
  readonly #history = new Map<string, Map<string, Scrape[]>>();
  readonly #now: () => number;

  constructor(options: DirectProviderOptions) {
    this.#endpoints = options.endpoints;
    this.#timeoutMs = options.timeoutMs ?? 5_000;
    this.#maxBytes = options.maxBytes ?? MAX_METRICS_PAGE_BYTES;
    this.#routes = options.routes ?? DEFAULT_ROUTES;
    this.#now = options.now ?? Date.now;
  }

  async analyse(request: AnalysisRequest): Promise<Observations> {
    const { target } = request;
    if (request.metrics.length > 0) {
      throw new AnalysisError(
        'unsupported',
        `custom metrics (${request.metrics.map((m) => m.name).join(', ')}) are PromQL and need the prometheus provider; set spec.canary.analysis.provider: prometheus with an address, or remove them`,
      );
    }
    let pods: PodEndpoint[];
    try {
      pods = await this.#endpoints(target, request.signal);
    } catch (error) {
      throw new AnalysisError('unreachable', `cannot list the endpoints of Service ${target.namespace}/${target.service}: ${(error as Error).message}`, { cause: error });
    }
    if (pods.length === 0) throw new AnalysisError('no-targets', `Service ${target.namespace}/${target.service} has no ready endpoint to scrape`);
    const scraped = await mapLimited(pods, SCRAPE_CONCURRENCY, async (p) => ({ pod: p.pod, counters: await this.#scrape(p, request.signal) }));
    const key = `${target.namespace}/${target.service}`;
    const now = this.#now();
    const before = this.#history.get(key);
    // Pods that left are forgotten; a pod seen for the first time counts from its start.
    const after = new Map<string, Scrape[]>();
    const deltas = scraped.map((s) => {
      const scrapes = before?.get(s.pod) ?? [];
      after.set(s.pod, [...scrapes.filter((x) => now - x.at <= 3 * request.intervalMs), { at: now, counters: s.counters }]);
      return delta(s.counters, baseline(scrapes, now, request.intervalMs)?.counters);
    });
    this.#history.set(key, after);
    return observe(deltas);
  }

  async #scrape(pod: PodEndpoint, signal?: AbortSignal): Promise<PodCounters> {
    const url = `${pod.url.replace(/\/+$/, '')}/metrics`;
    const answer = await fetchBounded(url, { timeoutMs: this.#timeoutMs, maxBytes: this.#maxBytes, accept: 'text/plain', who: `pod ${pod.pod} at ${url}`, signal });
    if (answer.status < 200 || answer.status > 299) throw new AnalysisError('bad-answer', `pod ${pod.pod} answered ${url} with HTTP ${answer.status}`);
    try {
      return readCounters(answer.text, this.#routes);
    } catch (error) {
      // the line number only: the page's text is not repeated to whoever reads the status
      if (error instanceof ExpositionError) throw new AnalysisError('bad-answer', `pod ${pod.pod} served unreadable metrics at ${url}${error.line === undefined ? '' : ` (line ${error.line})`}`);
      throw error;
    }
  }
}

/** fn over items, at most `limit` at a time, results in order; the first failure rejects. */
async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
