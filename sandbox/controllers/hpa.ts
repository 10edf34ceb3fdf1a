// The HorizontalPodAutoscaler controller of the emulated plane, for a CPU utilisation target on a
// Deployment (what imageops writes): every sync period, the target's pods and their PodMetrics
// (through the API server's metrics.k8s.io, as kube-controller-manager reads them), the arithmetic
// of autoscale.ts, the scale subresource, then status and a SuccessfulRescale Event as the real
// controller reports them. Other metric types and targets get ScalingActive=False saying so.
import type { Logger } from 'pino';
import { z } from 'zod';
import { cpuCores } from '../../operator/src/api/quantities.ts';
import { DEFAULT_HPA_BEHAVIOR } from '../../operator/src/build/hpa.ts';
import { EventRecorder } from '../../operator/src/kube/events.ts';
import type { Informer } from '../../operator/src/kube/informer.ts';
import { selectorToString } from '../apiserver/selectors.ts';
import { type KubeClient, RESOURCES, resourcePath } from '../kube/client.ts';
import type { Condition, Deployment, HorizontalPodAutoscaler, Pod } from '../kube/types.ts';
import { applyBehavior, type Behavior, cpuReplicas, EMPTY_HISTORY, type History, type PodSample, type ScalingRules } from './autoscale.ts';

/** kube-controller-manager's --horizontal-pod-autoscaler-sync-period, as the real plane runs it. */
export const SYNC_PERIOD_MS = 5_000;
/** --horizontal-pod-autoscaler-cpu-initialization-period and --horizontal-pod-autoscaler-initial-readiness-delay. */
const CPU_INITIALIZATION_MS = 300_000;
const INITIAL_READINESS_DELAY_MS = 30_000;

const PodMetricsList = z.object({
  items: z.array(
    z.looseObject({
      metadata: z.looseObject({ name: z.string() }),
      timestamp: z.string(),
      window: z.string(),
      containers: z.array(z.looseObject({ usage: z.looseObject({ cpu: z.string() }) })),
    }),
  ),
});

type Status = {
  observedGeneration?: number;
  lastScaleTime?: string;
  currentReplicas: number;
  desiredReplicas: number;
  currentMetrics?: unknown[];
  conditions: Condition[];
};

const rules = (given: Partial<ScalingRules> | undefined, defaults: ScalingRules): ScalingRules => ({ ...defaults, ...given });

function requestMilli(pod: Pod): number {
  let total = 0;
  for (const c of pod.spec.containers) {
    const r = c.resources as { requests?: { cpu?: string | number }; limits?: { cpu?: string | number } } | undefined;
    // the API server defaults a request to the limit
    const cpu = r?.requests?.cpu ?? r?.limits?.cpu;
    if (cpu === undefined) return 0;
    total += cpuCores(cpu) * 1000;
  }
  return total;
}

/** groupPods' readiness rule for CPU: a sample counts once it was taken a window after the pod became Ready. */
function counts(pod: Pod, sample: { timestamp: string; window: string } | undefined, now: number): boolean {
  if (pod.status?.phase === 'Pending') return false;
  if (sample === undefined) return true; // missing: counted by cpuReplicas' own rule
  const ready = pod.status?.conditions?.find((c) => c.type === 'Ready');
  const started = Date.parse(String((pod.status as { startTime?: unknown } | undefined)?.startTime ?? ''));
  if (ready === undefined || Number.isNaN(started)) return false;
  const transition = Date.parse(ready.lastTransitionTime ?? '');
  if (started + CPU_INITIALIZATION_MS > now) {
    return ready.status === 'True' && Date.parse(sample.timestamp) >= transition + parseFloat(sample.window) * 1000;
  }
  return !(ready.status === 'False' && started + INITIAL_READINESS_DELAY_MS > transition);
}

export class HpaController {
  readonly #client: KubeClient;
  readonly #hpas: Informer<HorizontalPodAutoscaler>;
  readonly #deployments: Informer<Deployment>;
  readonly #pods: Informer<Pod>;
  readonly #events: EventRecorder;
  readonly #history = new Map<string, History>();

  constructor(client: KubeClient, hpas: Informer<HorizontalPodAutoscaler>, deployments: Informer<Deployment>, pods: Informer<Pod>, logger: Logger) {
    this.#client = client;
    this.#hpas = hpas;
    this.#deployments = deployments;
    this.#pods = pods;
    this.#events = new EventRecorder(client.transport, { component: 'horizontal-pod-autoscaler', logger });
  }

  /** One sync of one HPA; the caller comes back after SYNC_PERIOD_MS. */
  async reconcile(key: string): Promise<{ requeueAfterMs: number } | undefined> {
    const [ns = 'default', name = ''] = key.split('/');
    const hpa = this.#hpas.get(ns, name);
    if (hpa === undefined) {
      this.#history.delete(key);
      return undefined;
    }
    const now = Date.now();
    const old = (hpa.status ?? {}) as Partial<Status>;
    const spec = hpa.spec;
    const min = spec.minReplicas ?? 1;
    const ref = spec.scaleTargetRef;
    const deployment = ref.kind === 'Deployment' ? this.#deployments.get(ns, ref.name) : undefined;
    const conditions = (list: [string, string, string, string][]) => list.map(([type, status, reason, message]) => condition(old.conditions, type, status, reason, message, now));
    if (deployment === undefined) {
      const why = ref.kind === 'Deployment' ? `deployments.apps "${ref.name}" not found` : `the sandbox's HPA controller scales Deployments, not ${ref.kind}`;
      await this.#writeStatus(hpa, {
        ...old,
        currentReplicas: old.currentReplicas ?? 0,
        desiredReplicas: old.desiredReplicas ?? 0,
        conditions: conditions([['AbleToScale', 'False', 'FailedGetScale', `the HPA controller was unable to get the target's current scale: ${why}`]]),
      });
      return { requeueAfterMs: SYNC_PERIOD_MS };
    }
    const current = deployment.spec.replicas ?? 1;
    const able: [string, string, string, string] = ['AbleToScale', 'True', 'SucceededGetScale', "the HPA controller was able to get the target's current scale"];
    if (current === 0 && min !== 0) {
      await this.#writeStatus(hpa, {
        ...old,
        currentReplicas: 0,
        desiredReplicas: 0,
        conditions: conditions([able, ['ScalingActive', 'False', 'ScalingDisabled', 'scaling is disabled since the replica count of the target is zero']]),
      });
      return { requeueAfterMs: SYNC_PERIOD_MS };
    }
    const target = spec.metrics?.find((m) => m.type === 'Resource' && m.resource?.name === 'cpu' && m.resource.target.type === 'Utilization');
    const utilizationTarget = target?.resource?.target.averageUtilization ?? (spec.metrics === undefined || spec.metrics.length === 0 ? 80 : undefined);
    let recommended = current;
    let active: [string, string, string, string];
    let currentMetrics: unknown[] | undefined = old.currentMetrics;
    if (utilizationTarget === undefined) {
      active = ['ScalingActive', 'False', 'InvalidMetricSourceType', "the sandbox's HPA controller knows a CPU Utilization target only"];
    } else {
      const computed = cpuReplicas(current, utilizationTarget, await this.#samples(ns, deployment, now));
      if (computed.ok) {
        recommended = computed.replicas;
        currentMetrics = [{ type: 'Resource', resource: { name: 'cpu', current: { averageUtilization: computed.utilization, averageValue: `${Math.round(computed.averageMilli)}m` } } }];
        active = ['ScalingActive', 'True', 'ValidMetricFound', 'the HPA was able to successfully calculate a replica count from cpu resource utilization (percentage of request)'];
      } else {
        active = ['ScalingActive', 'False', computed.reason, `the HPA was unable to compute the replica count: failed to get cpu utilization: ${computed.message}`];
      }
    }
    const behavior: Behavior = { scaleUp: rules(spec.behavior?.scaleUp, DEFAULT_HPA_BEHAVIOR.scaleUp), scaleDown: rules(spec.behavior?.scaleDown, DEFAULT_HPA_BEHAVIOR.scaleDown) };
    // Outside the bounds the count is corrected without metrics, as upstream does.
    const bounded = current > spec.maxReplicas || current < min;
    const decision = applyBehavior({
      now,
      current,
      recommended: bounded ? Math.min(Math.max(current, min), spec.maxReplicas) : recommended,
      min,
      max: spec.maxReplicas,
      behavior,
      history: this.#history.get(key) ?? EMPTY_HISTORY,
    });
    this.#history.set(key, decision.history);
    let lastScaleTime = old.lastScaleTime;
    if (decision.replicas !== current && (bounded || active[1] === 'True')) {
      const path = `${resourcePath(RESOURCES.deployments, ns, deployment.metadata.name)}/scale`;
      await this.#client.request('PATCH', path, { spec: { replicas: decision.replicas } }, 'application/merge-patch+json');
      lastScaleTime = new Date(now).toISOString().replace(/\.\d+Z$/, 'Z');
      const reason = bounded
        ? current > spec.maxReplicas
          ? 'Current number of replicas above Spec.MaxReplicas'
          : 'Current number of replicas below Spec.MinReplicas'
        : decision.replicas > current
          ? 'cpu resource utilization (percentage of request) above target'
          : 'All metrics below target';
      this.#events.record(
        { apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', metadata: hpa.metadata },
        'Normal',
        'SuccessfulRescale',
        `New size: ${decision.replicas}; reason: ${reason}`,
      );
    }
    const limited: [string, string, string, string] = decision.limited
      ? ['ScalingLimited', 'True', decision.limited.reason, decision.limited.message]
      : ['ScalingLimited', 'False', 'DesiredWithinRange', 'the desired count is within the acceptable range'];
    await this.#writeStatus(hpa, {
      ...(hpa.metadata.generation !== undefined ? { observedGeneration: hpa.metadata.generation } : {}),
      ...(lastScaleTime !== undefined ? { lastScaleTime } : {}),
      currentReplicas: current,
      desiredReplicas: decision.replicas,
      ...(currentMetrics !== undefined ? { currentMetrics } : {}),
      conditions: conditions([able, active, limited]),
    });
    return { requeueAfterMs: SYNC_PERIOD_MS };
  }

  /** The Deployment's pods (not being deleted, not failed), each with its request and its sample from the metrics API. */
  async #samples(ns: string, deployment: Deployment, now: number): Promise<PodSample[]> {
    const selector = selectorToString(deployment.spec.selector);
    const labels = deployment.spec.selector.matchLabels ?? {};
    const pods = this.#pods
      .list()
      .filter((p) => (p.metadata.namespace ?? 'default') === ns && p.metadata.deletionTimestamp === undefined && p.status?.phase !== 'Failed')
      .filter((p) => Object.entries(labels).every(([k, v]) => p.metadata.labels?.[k] === v));
    const path = `/apis/metrics.k8s.io/v1beta1/namespaces/${encodeURIComponent(ns)}/pods?labelSelector=${encodeURIComponent(selector)}`;
    const metrics = PodMetricsList.parse(await this.#client.request('GET', path));
    const byName = new Map(metrics.items.map((m) => [m.metadata.name, m]));
    return pods.map((p) => {
      const m = byName.get(p.metadata.name);
      const usageMilli = m === undefined ? undefined : m.containers.reduce((s, c) => s + cpuCores(c.usage.cpu) * 1000, 0);
      return { requestMilli: requestMilli(p), usageMilli, ready: counts(p, m, now) };
    });
  }

  /** Status through /status, only when it changed (so an HPA at rest costs no write). */
  async #writeStatus(hpa: HorizontalPodAutoscaler, status: Partial<Status>): Promise<void> {
    if (JSON.stringify(hpa.status ?? {}) === JSON.stringify(status)) return;
    const path = `${resourcePath(RESOURCES.horizontalpodautoscalers, hpa.metadata.namespace ?? 'default', hpa.metadata.name)}/status`;
    await this.#client.request('PUT', path, { ...hpa, status });
  }
}

/** A condition keeping its lastTransitionTime while its status stays. */
function condition(old: Condition[] | undefined, type: string, status: string, reason: string, message: string, now: number): Condition {
  const before = old?.find((c) => c.type === type);
  const lastTransitionTime = before?.status === status && before.lastTransitionTime !== undefined ? before.lastTransitionTime : new Date(now).toISOString().replace(/\.\d+Z$/, 'Z');
  return { type, status, lastTransitionTime, reason, message };
}
