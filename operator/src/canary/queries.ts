// The PromQL the Prometheus provider runs: the defaults over Istio's standard telemetry
// and the templating of users' custom metric queries. Pure.

/** What a query is about: the canary workload and the analysis window. */
export interface QueryScope {
  namespace: string;
  /** The canary Deployment's name (Istio's destination_workload). */
  target: string;
  /** The analysis window, normally the canary interval. */
  intervalMs: number;
}

/** Escapes a value for use inside a double-quoted PromQL string (label matcher value). */
export function escapeLabelValue(value: string): string {
  return value.replace(/[\\"\n\r\t]/g, (c) => {
    switch (c) {
      case '\\':
        return '\\\\';
      case '"':
        return '\\"';
      case '\n':
        return '\\n';
      case '\r':
        return '\\r';
      default:
        return '\\t';
    }
  });
}

/**
 * A PromQL range duration for a window. Go-style spec durations such as "1.5m" are not valid
 * PromQL, so the window is rendered from milliseconds: whole seconds as "90s", else "1500ms".
 */
export function promDuration(ms: number): string {
  if (!Number.isInteger(ms) || ms <= 0) throw new RangeError(`analysis window must be a positive whole number of milliseconds, got ${ms}`);
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

const PLACEHOLDER = /\{\{\s*([a-zA-Z]+)\s*\}\}/g;

/** Placeholders a custom metric query may use. */
export const QUERY_VARIABLES = ['namespace', 'target', 'interval'] as const;

/**
 * Fills {{namespace}}, {{target}} and {{interval}} in a query. Names are escaped for a quoted
 * label value, the interval is a PromQL duration. An unknown placeholder is an error rather
 * than text sent to Prometheus, so that a typo shows up as a clear failed check.
 */
export function renderQuery(template: string, scope: QueryScope): string {
  const values: Record<(typeof QUERY_VARIABLES)[number], string> = {
    namespace: escapeLabelValue(scope.namespace),
    target: escapeLabelValue(scope.target),
    interval: promDuration(scope.intervalMs),
  };
  return template.replace(PLACEHOLDER, (whole, name: string) => {
    if (!(QUERY_VARIABLES as readonly string[]).includes(name)) {
      throw new QueryTemplateError(`unknown placeholder ${whole} in query; use ${QUERY_VARIABLES.map((v) => `{{${v}}}`).join(', ')}`);
    }
    return values[name as (typeof QUERY_VARIABLES)[number]];
  });
}

export class QueryTemplateError extends Error {
  override name = 'QueryTemplateError';
}

const SELECTOR = 'reporter="destination",destination_workload_namespace="{{namespace}}",destination_workload="{{target}}"';

/** The default p99 latency query, in milliseconds. */
export const LATENCY_P99_QUERY = `histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{${SELECTOR}}[{{interval}}])) by (le))`;

const SERVER_ERRORS = `istio_requests_total{${SELECTOR},response_code=~"5.*"}`;

/**
 * The default 5xx share, in percent. One change from Flagger's form: when the numerator's
 * rate is empty, it is 0 only if the canary has no 5xx series at all (`sum(0 * absent(...))`,
 * labelless like the denominator): a healthy canary that never answered a 5xx then measures
 * 0%, not "no data". A 5xx series too young for rate() (one sample in the window, as right after
 * a broken canary takes traffic) leaves the whole query empty, which fails the check instead of
 * passing it as 0%.
 */
export const ERROR_RATE_QUERY = `(sum(rate(${SERVER_ERRORS}[{{interval}}])) or on() sum(0 * absent(${SERVER_ERRORS})))` + ` / sum(rate(istio_requests_total{${SELECTOR}}[{{interval}}])) * 100`;

/** Requests the canary served in the window, for the minRequests rule. */
export const REQUESTS_QUERY = `sum(increase(istio_requests_total{${SELECTOR}}[{{interval}}]))`;

/** The three built-in queries, rendered for a scope. */
export function defaultQueries(scope: QueryScope): { latencyP99Ms: string; errorRatePercent: string; requests: string } {
  return {
    latencyP99Ms: renderQuery(LATENCY_P99_QUERY, scope),
    errorRatePercent: renderQuery(ERROR_RATE_QUERY, scope),
    requests: renderQuery(REQUESTS_QUERY, scope),
  };
}
