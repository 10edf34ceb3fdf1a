// Which provider measures an ImageService's canary: spec.canary.analysis.provider, else
// Prometheus when an address is known (the spec's or the operator's PROMETHEUS_URL), else direct.
import type { AnalysisSpec } from '../../api/image-service.ts';
import type { SigningKeySource } from '../signing-key.ts';
import { DirectProvider, type EndpointSource } from './direct.ts';
import { PrometheusProvider } from './prometheus.ts';
import { AnalysisError, type MetricsProvider } from './provider.ts';

export interface ProvidersOptions {
  /** The operator's PROMETHEUS_URL. */
  prometheusUrl: string | undefined;
  /** How the direct provider finds canary pods (kubeEndpoints in a cluster). */
  endpoints: EndpointSource;
  /** How the output check reads the signing key of a service with signed URLs (kubeSigningKey in a cluster). */
  signingKey: SigningKeySource;
  /** Longest wait for one Prometheus query or one pod scrape. */
  timeoutMs?: number;
}

/** One provider per Prometheus address and one direct provider (it keeps each pod's last scrape). */
export class Providers {
  readonly #options: ProvidersOptions;
  readonly #prometheus = new Map<string, PrometheusProvider>();
  readonly #direct: DirectProvider;

  constructor(options: ProvidersOptions) {
    this.#options = options;
    this.#direct = new DirectProvider({ endpoints: options.endpoints, ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }) });
  }

  /** How pods are found behind a Service (the output check uses it too). */
  get endpoints(): EndpointSource {
    return this.#options.endpoints;
  }

  /** How the output check signs its samples for a service with signed URLs. */
  get signingKey(): SigningKeySource {
    return this.#options.signingKey;
  }

  /** The provider for an analysis spec; an AnalysisError when prometheus is asked for without an address. */
  for(analysis: AnalysisSpec): MetricsProvider {
    const address = analysis.prometheus?.address ?? this.#options.prometheusUrl;
    const kind = analysis.provider ?? (address === undefined ? 'direct' : 'prometheus');
    if (kind === 'direct') return this.#direct;
    if (address === undefined) {
      throw new AnalysisError('unreachable', "provider prometheus has no address: set spec.canary.analysis.prometheus.address or the operator's PROMETHEUS_URL, or use provider: direct");
    }
    let provider = this.#prometheus.get(address);
    if (provider === undefined) {
      provider = new PrometheusProvider({ address, ...(this.#options.timeoutMs === undefined ? {} : { timeoutMs: this.#options.timeoutMs }) });
      this.#prometheus.set(address, provider);
    }
    return provider;
  }
}
