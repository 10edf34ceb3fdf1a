import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { type ImageServiceStatus, PHASES } from './api/image-service.ts';

/**
 * The operator's metrics (docs/architecture.md, "Operator metrics"): reconcile timing and errors, and the canary's
 * state per ImageService, so dashboards and alerts see a rollout without reading status.
 * `imageops_canary_phase` is the index of the phase in PHASES (0 Initializing ... 6 Failed, 7 Waiting).
 */
export class OperatorMetrics {
  readonly registry = new Registry();
  readonly reconcileDuration = new Histogram({
    name: 'imageops_reconcile_duration_seconds',
    help: 'Time to reconcile one ImageService.',
    labelNames: ['namespace', 'name'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly reconcileErrors = new Counter({
    name: 'imageops_reconcile_errors_total',
    help: 'Reconciles that failed and were retried.',
    labelNames: ['namespace', 'name', 'reason'] as const,
    registers: [this.registry],
  });
  readonly canaryWeight = this.#perService('imageops_canary_weight', 'Percent of traffic routed to the canary.');
  readonly canaryPhase = this.#perService('imageops_canary_phase', `Rollout phase: ${PHASES.map((p, i) => `${i} ${p}`).join(', ')}.`);
  readonly canaryFailedChecks = this.#perService('imageops_canary_failed_checks', 'Failed checks of the current analysis.');
  readonly analysisValue = new Gauge({
    name: 'imageops_analysis_value',
    help: 'Last measured value of each analysis metric of the canary.',
    labelNames: ['namespace', 'name', 'metric'] as const,
    registers: [this.registry],
  });
  readonly leader = new Gauge({
    name: 'imageops_leader',
    help: '1 while this replica holds the leader lease (or leader election is off).',
    registers: [this.registry],
  });

  /** Analysis metric names published per ImageService, so they can be removed with it. */
  readonly #analysisMetrics = new Map<string, Set<string>>();

  constructor(options: { processMetrics?: boolean } = {}) {
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  #perService(name: string, help: string): Gauge<'namespace' | 'name'> {
    return new Gauge({ name, help, labelNames: ['namespace', 'name'] as const, registers: [this.registry] });
  }

  /** Publishes an ImageService's status; called after every reconcile that read it. */
  observeStatus(namespace: string, name: string, status: ImageServiceStatus): void {
    const labels = { namespace, name };
    this.canaryWeight.set(labels, status.canaryWeight ?? 0);
    if (status.phase !== undefined) this.canaryPhase.set(labels, PHASES.indexOf(status.phase));
    this.canaryFailedChecks.set(labels, status.failedChecks ?? 0);
    const analysis = status.lastAnalysis;
    if (analysis === undefined) return;
    const values: Record<string, number | null | undefined> = {
      latencyP99Ms: analysis.latencyP99Ms,
      errorRatePercent: analysis.errorRatePercent,
      requests: analysis.requests,
      ...analysis.metrics,
    };
    const key = `${namespace}/${name}`;
    const published = this.#analysisMetrics.get(key) ?? new Set<string>();
    this.#analysisMetrics.set(key, published);
    for (const [metric, value] of Object.entries(values)) {
      if (typeof value === 'number') {
        this.analysisValue.set({ ...labels, metric }, value);
        published.add(metric);
      } else if (published.delete(metric)) {
        this.analysisValue.remove({ ...labels, metric });
      }
    }
  }

  /** Drops an ImageService's series when it is deleted. */
  forget(namespace: string, name: string): void {
    for (const g of [this.canaryWeight, this.canaryPhase, this.canaryFailedChecks, this.reconcileDuration]) {
      g.remove({ namespace, name });
    }
    const key = `${namespace}/${name}`;
    for (const metric of this.#analysisMetrics.get(key) ?? []) this.analysisValue.remove({ namespace, name, metric });
    this.#analysisMetrics.delete(key);
  }
}
