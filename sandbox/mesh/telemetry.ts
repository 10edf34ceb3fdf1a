// Istio's standard metrics as a sidecar reports them (reporter="destination"), so Flagger-style
// queries written for a real mesh work unchanged against the sandbox.
import { Counter, Histogram, Registry } from 'prom-client';

/** Envoy's default histogram buckets (milliseconds), which Istio's istio_request_duration_milliseconds uses. */
export const ISTIO_DURATION_BUCKETS_MS = [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000];

const LABELS = [
  'reporter',
  'source_workload',
  'source_workload_namespace',
  'source_app',
  'destination_workload',
  'destination_workload_namespace',
  'destination_app',
  'destination_version',
  'destination_service',
  'destination_service_name',
  'destination_service_namespace',
  'destination_canonical_service',
  'request_protocol',
  'response_code',
  'response_flags',
] as const;

export type RequestLabels = Record<(typeof LABELS)[number], string>;

export class MeshTelemetry {
  readonly registry = new Registry();
  readonly #requests: Counter<(typeof LABELS)[number]>;
  readonly #duration: Histogram<(typeof LABELS)[number]>;

  constructor() {
    this.#requests = new Counter({ name: 'istio_requests_total', help: 'Requests handled by the mesh', labelNames: LABELS, registers: [this.registry] });
    this.#duration = new Histogram({
      name: 'istio_request_duration_milliseconds',
      help: 'Request duration in milliseconds',
      labelNames: LABELS,
      buckets: ISTIO_DURATION_BUCKETS_MS,
      registers: [this.registry],
    });
  }

  record(labels: RequestLabels, durationMs: number): void {
    this.#requests.inc(labels);
    this.#duration.observe(labels, durationMs);
  }

  metrics(): Promise<string> {
    return this.registry.metrics();
  }
}
