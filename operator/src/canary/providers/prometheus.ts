// The Prometheus provider: the default Istio queries (docs/canary.md) (and custom ones) through the HTTP API.
import { z } from 'zod';
import { defaultQueries, type QueryScope, QueryTemplateError, renderQuery } from '../queries.ts';
import { fetchBounded } from './bounded-fetch.ts';
import { parseValue } from './exposition.ts';
import { AnalysisError, type AnalysisRequest, type MetricsProvider, type Observations } from './provider.ts';

export interface PrometheusProviderOptions {
  /** Base URL, e.g. http://prometheus.monitoring:9090 (a path prefix is kept). */
  address: string;
  /** Longest wait for one query's answer. */
  timeoutMs?: number;
  /** Largest answer read; a query must return one number, which takes a few hundred bytes. */
  maxBytes?: number;
}

export const DEFAULT_PROMETHEUS_TIMEOUT_MS = 10_000;
export const MAX_PROMETHEUS_ANSWER_BYTES = 256 * 1024;

// Prometheus' documented errorType values: the only part of an error answer repeated to the user.
const ERROR_TYPES = new Set(['timeout', 'canceled', 'execution', 'bad_data', 'internal', 'unavailable', 'not_found', 'not_acceptable']);

// Prometheus renders sample values as strings: "1.5", "NaN", "+Inf", "-Inf" (parseValue).
const sampleValue = z.tuple([z.number(), z.string()]);

const queryAnswer = z.discriminatedUnion('status', [
  z.object({
    status: z.literal('success'),
    data: z.discriminatedUnion('resultType', [
      z.object({ resultType: z.literal('vector'), result: z.array(z.object({ metric: z.record(z.string(), z.string()), value: sampleValue })) }),
      z.object({ resultType: z.literal('scalar'), result: sampleValue }),
      z.object({ resultType: z.literal('matrix'), result: z.array(z.unknown()) }),
      z.object({ resultType: z.literal('string'), result: sampleValue }),
    ]),
  }),
  z.object({ status: z.literal('error'), errorType: z.string().optional(), error: z.string() }),
]);

export class PrometheusProvider implements MetricsProvider {
  readonly name = 'prometheus' as const;
  readonly #base: string;
  readonly #timeoutMs: number;
  readonly #maxBytes: number;

  constructor(options: PrometheusProviderOptions) {
    let url: URL;
    try {
      url = new URL(options.address);
    } catch {
      throw new AnalysisError('unreachable', `Prometheus address ${JSON.stringify(options.address)} is not a URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new AnalysisError('unreachable', `Prometheus address ${options.address} must be http:// or https://`);
    }
    this.#base = url.href.replace(/\/+$/, '');
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_PROMETHEUS_TIMEOUT_MS;
    this.#maxBytes = options.maxBytes ?? MAX_PROMETHEUS_ANSWER_BYTES;
  }

  get address(): string {
    return this.#base;
  }

  async analyse(request: AnalysisRequest): Promise<Observations> {
    const scope: QueryScope = { namespace: request.target.namespace, target: request.target.workload, intervalMs: request.intervalMs };
    const builtIn = defaultQueries(scope);
    const custom = request.metrics.map((m) => {
      try {
        return { name: m.name, query: renderQuery(m.query, scope) };
      } catch (error) {
        if (error instanceof QueryTemplateError) throw new AnalysisError('query', `metric ${m.name}: ${error.message}`);
        throw error;
      }
    });
    const [requests, latencyP99Ms, errorRatePercent, ...values] = await Promise.all([
      this.query(builtIn.requests, 'requests', request.signal),
      this.query(builtIn.latencyP99Ms, 'latency p99', request.signal),
      this.query(builtIn.errorRatePercent, 'error rate', request.signal),
      ...custom.map((m) => this.query(m.query, `metric ${m.name}`, request.signal)),
    ]);
    const metrics: Record<string, number> = {};
    custom.forEach((m, i) => {
      metrics[m.name] = values[i] ?? Number.NaN;
    });
    return {
      // No series at all means nothing was served; increase() extrapolates, so round.
      requests: Number.isFinite(requests) ? Math.round(requests as number) : 0,
      latencyP99Ms: latencyP99Ms as number,
      errorRatePercent: errorRatePercent as number,
      metrics,
    };
  }

  /**
   * One instant query reduced to one number: a scalar, or a vector of at most one series
   * (NaN when empty). Several series are an error: the query must aggregate.
   */
  async query(promql: string, what: string, signal?: AbortSignal): Promise<number> {
    const url = `${this.#base}/api/v1/query?${new URLSearchParams({ query: promql })}`;
    const who = `Prometheus at ${this.#base} (${what} query)`;
    const { status, text } = await fetchBounded(url, { timeoutMs: this.#timeoutMs, maxBytes: this.#maxBytes, accept: 'application/json', who, signal });
    // What the answer said is not repeated (the address may not be a Prometheus): its status and a fixed reason.
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new AnalysisError('bad-answer', `${who} answered with HTTP ${status} and no JSON: is it the Prometheus HTTP API?`);
    }
    const parsed = queryAnswer.safeParse(body);
    if (!parsed.success) {
      throw new AnalysisError('bad-answer', `${who} answered with HTTP ${status} and JSON that is not a query result: is it the Prometheus HTTP API?`);
    }
    const answer = parsed.data;
    if (answer.status === 'error') {
      const type = answer.errorType !== undefined && ERROR_TYPES.has(answer.errorType) ? answer.errorType : `HTTP ${status}`;
      throw new AnalysisError('query', `Prometheus refused the ${what} query (${type}; its message is not repeated here: run the query in Prometheus to see it); query: ${promql}`);
    }
    const data = answer.data;
    const value = (text: string): number => {
      try {
        return parseValue(text);
      } catch {
        throw new AnalysisError('bad-answer', `Prometheus answered the ${what} query with a sample value that is not a number`);
      }
    };
    switch (data.resultType) {
      case 'scalar':
        return value(data.result[1]);
      case 'vector': {
        if (data.result.length > 1) {
          throw new AnalysisError('query', `the ${what} query returned ${data.result.length} series; it must return one value (aggregate it, e.g. with sum()); query: ${promql}`);
        }
        const only = data.result[0];
        return only ? value(only.value[1]) : Number.NaN;
      }
      default:
        throw new AnalysisError('query', `the ${what} query returned a ${data.resultType}; it must return an instant vector or a scalar; query: ${promql}`);
    }
  }
}
