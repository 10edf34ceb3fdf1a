// The direct provider: no Prometheus. Scrape every ready canary pod's own /metrics, keep each
// pod's previous scrape, and compute p99 and 5xx share from the deltas, with Prometheus'
// histogram_quantile semantics so that both providers judge the same traffic alike.
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
  /** The `route` label values that count as traffic (the image routes; not probes or /metrics). */
  routes?: readonly string[];
}

export const DURATION_METRIC = 'image_service_http_request_duration_seconds';
export const REQUESTS_METRIC = 'image_service_http_requests_total';
const START_TIME_METRIC = 'process_start_time_seconds';
export const DEFAULT_ROUTES: readonly string[] = ['image'];

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
      if (Number.isNaN(le)) throw new ExpositionError(`${DURATION_METRIC}_bucket has le="${s.labels.le}", not a number`);
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
  const p99Seconds = histogramQuantile(0.99, [...buckets].map(([le, count]) => ({ le, count })));
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
  readonly #routes: readonly string[];
  /** Last scrape of each pod, per canary Service ("namespace/service"). */
  readonly #previous = new Map<string, Map<string, PodCounters>>();

  constructor(options: DirectProviderOptions) {
    this.#endpoints = options.endpoints;
    this.#timeoutMs = options.timeoutMs ?? 5_000;
    this.#routes = options.routes ?? DEFAULT_ROUTES;
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
    const scraped = await Promise.all(pods.map(async (p) => ({ pod: p.pod, counters: await this.#scrape(p, request.signal) })));
    const key = `${target.namespace}/${target.service}`;
    const before = this.#previous.get(key);
    const deltas = scraped.map((s) => delta(s.counters, before?.get(s.pod)));
    // Pods that left are forgotten; the next scrape of a new pod counts from its start.
    this.#previous.set(key, new Map(scraped.map((s) => [s.pod, s.counters])));
    return observe(deltas);
  }

  async #scrape(pod: PodEndpoint, signal?: AbortSignal): Promise<PodCounters> {
    const url = `${pod.url.replace(/\/+$/, '')}/metrics`;
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    let text: string;
    try {
      const response = await fetch(url, { signal: signal ? AbortSignal.any([signal, timeout]) : timeout, headers: { accept: 'text/plain' } });
      text = await response.text();
      if (!response.ok) throw new AnalysisError('bad-answer', `pod ${pod.pod} answered ${url} with HTTP ${response.status}`);
    } catch (error) {
      if (error instanceof AnalysisError) throw error;
      if (timeout.aborted) throw new AnalysisError('timeout', `pod ${pod.pod} did not answer ${url} within ${this.#timeoutMs} ms`, { cause: error });
      const code = ((error as Error).cause as NodeJS.ErrnoException | undefined)?.code;
      throw new AnalysisError('unreachable', `pod ${pod.pod} is unreachable at ${url}${code ? ` (${code})` : ''}`, { cause: error });
    }
    try {
      return readCounters(text, this.#routes);
    } catch (error) {
      if (error instanceof ExpositionError) throw new AnalysisError('bad-answer', `pod ${pod.pod} served unreadable metrics at ${url}: ${error.message}`);
      throw error;
    }
  }
}
