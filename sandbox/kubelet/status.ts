// The pod status the kubelet reports, from its containers' states: phase, conditions (keeping
// lastTransitionTime while a condition holds), IPs and containerStatuses. Pure.

import { compareQuantities } from '../../operator/src/api/quantities.ts';
import type { Condition, Container } from '../kube/types.ts';
import type { ContainerStatus } from './container.ts';

/** The pod's QoS class from its containers' requests and limits (requests default to limits). */
export function qosClass(containers: Container[]): 'Guaranteed' | 'Burstable' | 'BestEffort' {
  let any = false;
  let guaranteed = true;
  for (const c of containers) {
    const limits = c.resources?.limits ?? {};
    const requests = c.resources?.requests ?? {};
    if (Object.keys(limits).length > 0 || Object.keys(requests).length > 0) any = true;
    for (const r of ['cpu', 'memory']) {
      const limit = limits[r];
      const request = requests[r] ?? limit;
      if (limit === undefined || request === undefined || compareQuantities(limit, request) !== 0) guaranteed = false;
    }
  }
  if (!any) return 'BestEffort';
  return guaranteed ? 'Guaranteed' : 'Burstable';
}

export interface PodStatusInputs {
  podIP: string | undefined;
  hostIP: string;
  startTime: string;
  containers: ContainerStatus[];
  /** Whether the pod's containers are set up (env and volumes resolved). */
  initialized: boolean;
  qosClass: string;
  previous: Condition[];
  now: string;
}

export interface PodStatus {
  phase: 'Pending' | 'Running' | 'Succeeded' | 'Failed';
  conditions: Condition[];
  hostIP: string;
  hostIPs: { ip: string }[];
  podIP?: string;
  podIPs?: { ip: string }[];
  startTime: string;
  containerStatuses: ContainerStatus[];
  qosClass: string;
}

export function podPhase(containers: ContainerStatus[], willRestart: boolean): PodStatus['phase'] {
  const everStarted = containers.every((c) => c.restartCount > 0 || !('waiting' in c.state));
  if (!everStarted) return 'Pending';
  const allTerminated = containers.every((c) => 'terminated' in c.state);
  if (allTerminated && !willRestart) {
    return containers.every((c) => 'terminated' in c.state && c.state.terminated.exitCode === 0) ? 'Succeeded' : 'Failed';
  }
  return 'Running';
}

export function buildPodStatus(i: PodStatusInputs, willRestart: boolean): PodStatus {
  const ready = i.containers.length > 0 && i.containers.every((c) => c.ready);
  const notReady = i.containers.filter((c) => !c.ready).map((c) => c.name);
  const condition = (type: string, ok: boolean, reason?: string, message?: string): Condition => {
    const status = ok ? 'True' : 'False';
    const prev = i.previous.find((c) => c.type === type);
    const c: Condition = { type, status, lastProbeTime: null, lastTransitionTime: prev?.status === status ? (prev.lastTransitionTime ?? i.now) : i.now };
    if (!ok && reason !== undefined) c.reason = reason;
    if (!ok && message !== undefined) c.message = message;
    return c;
  };
  const unready = `containers with unready status: [${notReady.join(' ')}]`;
  const status: PodStatus = {
    phase: podPhase(i.containers, willRestart),
    conditions: [
      condition('PodReadyToStartContainers', i.podIP !== undefined),
      condition('Initialized', i.initialized, 'ContainersNotInitialized', 'containers are not initialized'),
      condition('Ready', ready, 'ContainersNotReady', unready),
      condition('ContainersReady', ready, 'ContainersNotReady', unready),
      condition('PodScheduled', true),
    ],
    hostIP: i.hostIP,
    hostIPs: [{ ip: i.hostIP }],
    startTime: i.startTime,
    containerStatuses: i.containers,
    qosClass: i.qosClass,
  };
  if (i.podIP !== undefined) {
    status.podIP = i.podIP;
    status.podIPs = [{ ip: i.podIP }];
  }
  return status;
}
