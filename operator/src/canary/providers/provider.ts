// The one interface both analysis providers implement, and what they answer.

/** The canary workload under analysis. */
export interface AnalysisTarget {
  namespace: string;
  /** The canary Deployment (Istio's destination_workload), e.g. thumbs-canary. */
  workload: string;
  /** The canary Service whose endpoints are the canary pods, e.g. thumbs-canary. */
  service: string;
}

/** A user's extra metric: a PromQL query with {{namespace}} {{target}} {{interval}}. */
export interface CustomMetric {
  name: string;
  query: string;
}

/**
 * What one interval of traffic looked like on the canary. A value that could not be measured
 * (Prometheus answered nothing, NaN, or +Inf) is NaN: the decision counts it as a failed check
 * once there were enough requests to judge.
 */
export interface Observations {
  /** Requests the canary served in the window (rounded); below minRequests means "no data". */
  requests: number;
  latencyP99Ms: number;
  errorRatePercent: number;
  /** Custom metrics by name. */
  metrics: Record<string, number>;
}

export type AnalysisErrorKind =
  /** The metrics source could not be reached (connection refused, DNS, reset). */
  | 'unreachable'
  /** The metrics source did not answer within the timeout. */
  | 'timeout'
  /** The source answered, but not with what its API promises (HTTP status, shape). */
  | 'bad-answer'
  /** Prometheus refused the query (bad PromQL, bad template). */
  | 'query'
  /** No canary pod to measure (direct provider: no ready endpoint). */
  | 'no-targets'
  /** The provider cannot evaluate this analysis (direct provider and a custom PromQL metric). */
  | 'unsupported'
  /** What the spec names cannot be used: the signing Secret is missing, unreadable or holds no key. */
  | 'configuration';

/** Why an analysis could not be made. The decision counts it as a failed check. */
export class AnalysisError extends Error {
  override name = 'AnalysisError';
  readonly kind: AnalysisErrorKind;
  constructor(kind: AnalysisErrorKind, message: string, options?: ErrorOptions) {
    super(message, options);
    this.kind = kind;
  }
}

export interface AnalysisRequest {
  target: AnalysisTarget;
  /** The window to measure, normally the canary interval. */
  intervalMs: number;
  metrics: readonly CustomMetric[];
  signal?: AbortSignal;
}

export interface MetricsProvider {
  readonly name: 'prometheus' | 'direct';
  /** Measures the canary over the window; throws AnalysisError when it cannot. */
  analyse(request: AnalysisRequest): Promise<Observations>;
}
