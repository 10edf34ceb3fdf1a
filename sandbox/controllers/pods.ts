// Pod facts the workload controllers share: active, ready, available, and who controls it.
import type { Pod } from '../kube/types.ts';

export function isActive(pod: Pod): boolean {
  return pod.metadata.deletionTimestamp === undefined && pod.status?.phase !== 'Succeeded' && pod.status?.phase !== 'Failed';
}

export function readySince(pod: Pod): number | undefined {
  const c = pod.status?.conditions?.find((x) => x.type === 'Ready');
  if (c?.status !== 'True') return undefined;
  return Date.parse(c.lastTransitionTime ?? '') || 0;
}

/** Ready for at least minReadySeconds; returns how long until it will be, when it is ready but not yet available. */
export function availability(pod: Pod, minReadySeconds: number, now: number): { available: boolean; inMs: number | undefined } {
  const since = readySince(pod);
  if (since === undefined) return { available: false, inMs: undefined };
  const at = since + minReadySeconds * 1000;
  return at <= now ? { available: true, inMs: undefined } : { available: false, inMs: at - now };
}

export function controllerOf(meta: {
  ownerReferences?: { kind: string; name: string; uid: string; controller?: boolean | undefined }[] | undefined;
}): { kind: string; name: string; uid: string } | undefined {
  return meta.ownerReferences?.find((o) => o.controller === true);
}
