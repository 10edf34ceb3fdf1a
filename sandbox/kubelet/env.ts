// A container's environment, resolved as the kubelet does: envFrom, then env in order with
// $(VAR) expansion; the Downward API (fieldRef, resourceFieldRef with divisor and ceil);
// Secret and ConfigMap keys, honouring `optional`. Pure: the objects it reads are passed in.

import { nanoUnits, QuantityError } from '../../operator/src/api/quantities.ts';
import type { ConfigMap, Container, Pod, Secret } from '../kube/types.ts';

export interface EnvInputs {
  pod: Pod;
  container: Container;
  podIP: string;
  hostIP: string;
  /** What the Downward API reports for a limit that is not set: the node's allocatable. */
  nodeAllocatable: { cpu: string; memory: string; 'ephemeral-storage': string };
  secrets: ReadonlyMap<string, Secret>;
  configMaps: ReadonlyMap<string, ConfigMap>;
}

/** CreateContainerConfigError in the real kubelet: the container cannot start until it is fixed. */
export class ContainerConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ContainerConfigError';
  }
}

/** Names of the Secrets and ConfigMaps a pod reads (env, envFrom and volumes), to fetch before resolving. */
export function referencedObjects(pod: Pod): { secrets: string[]; configMaps: string[] } {
  const secrets = new Set<string>();
  const configMaps = new Set<string>();
  for (const c of pod.spec.containers) {
    for (const e of c.env ?? []) {
      if (e.valueFrom?.secretKeyRef?.name) secrets.add(e.valueFrom.secretKeyRef.name);
      if (e.valueFrom?.configMapKeyRef?.name) configMaps.add(e.valueFrom.configMapKeyRef.name);
    }
    for (const f of c.envFrom ?? []) {
      if (f.secretRef?.name) secrets.add(f.secretRef.name);
      if (f.configMapRef?.name) configMaps.add(f.configMapRef.name);
    }
  }
  for (const v of pod.spec.volumes ?? []) {
    if (v.secret) secrets.add(v.secret.secretName);
    if (v.configMap) configMaps.add(v.configMap.name);
    for (const source of v.projected?.sources ?? []) {
      if (source.secret) secrets.add(source.secret.name);
      if (source.configMap) configMaps.add(source.configMap.name);
    }
  }
  return { secrets: [...secrets], configMaps: [...configMaps] };
}

export function secretData(secret: Secret): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  for (const [k, v] of Object.entries(secret.data ?? {})) out[k] = Buffer.from(v, 'base64');
  for (const [k, v] of Object.entries(secret.stringData ?? {})) out[k] = Buffer.from(v, 'utf8');
  return out;
}

export function configMapData(cm: ConfigMap): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  for (const [k, v] of Object.entries(cm.binaryData ?? {})) out[k] = Buffer.from(v, 'base64');
  for (const [k, v] of Object.entries(cm.data ?? {})) out[k] = Buffer.from(v, 'utf8');
  return out;
}

const ENV_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;

/** Kubernetes' $(VAR) expansion: defined names expand, `$$` escapes, unknown references stay as written. */
export function expand(value: string, env: Readonly<Record<string, string>>): string {
  return value.replace(/\$\$|\$\(([^)]*)\)/g, (whole, name: string | undefined) => {
    if (whole === '$$') return '$';
    return name !== undefined && Object.hasOwn(env, name) ? (env[name] ?? '') : whole;
  });
}

/** A Downward API field of the pod, for env and projected volumes. */
export function fieldValue(path: string, inputs: Pick<EnvInputs, 'pod' | 'podIP' | 'hostIP'>): string {
  const { pod } = inputs;
  const sub = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
  if (sub !== null) {
    const map = sub[1] === 'labels' ? pod.metadata.labels : pod.metadata.annotations;
    return map?.[sub[2] ?? ''] ?? '';
  }
  switch (path) {
    case 'metadata.name':
      return pod.metadata.name;
    case 'metadata.namespace':
      return pod.metadata.namespace ?? 'default';
    case 'metadata.uid':
      return pod.metadata.uid ?? '';
    case 'spec.nodeName':
      return pod.spec.nodeName ?? '';
    case 'spec.serviceAccountName':
      return pod.spec.serviceAccountName ?? 'default';
    case 'status.podIP':
    case 'status.podIPs':
      return inputs.podIP;
    case 'status.hostIP':
    case 'status.hostIPs':
      return inputs.hostIP;
    default:
      throw new ContainerConfigError(`unsupported fieldRef fieldPath "${path}"`);
  }
}

function resourceValue(ref: { resource: string; containerName?: string | undefined; divisor?: string | number | undefined }, inputs: EnvInputs): string {
  const name = ref.containerName ?? inputs.container.name;
  const container = inputs.pod.spec.containers.find((c) => c.name === name);
  if (container === undefined) throw new ContainerConfigError(`resourceFieldRef: no container named "${name}"`);
  const [kind, resource] = ref.resource.split('.') as [string, string | undefined];
  if ((kind !== 'limits' && kind !== 'requests') || (resource !== 'cpu' && resource !== 'memory' && resource !== 'ephemeral-storage')) {
    throw new ContainerConfigError(`unsupported resourceFieldRef resource "${ref.resource}"`);
  }
  const limits = container.resources?.limits ?? {};
  const requests = container.resources?.requests ?? {};
  // An unset limit reads as the node's allocatable; an unset request as the limit, else 0.
  const value = kind === 'limits' ? (limits[resource] ?? inputs.nodeAllocatable[resource]) : (requests[resource] ?? limits[resource] ?? 0);
  return divideCeil(value, ref.divisor ?? 1).toString();
}

function keyRef(kind: 'Secret' | 'ConfigMap', ref: { name?: string | undefined; key: string; optional?: boolean | undefined }, inputs: EnvInputs): string | undefined {
  const ns = inputs.pod.metadata.namespace ?? 'default';
  const obj = kind === 'Secret' ? inputs.secrets.get(ref.name ?? '') : inputs.configMaps.get(ref.name ?? '');
  if (obj === undefined) {
    if (ref.optional === true) return undefined;
    throw new ContainerConfigError(`${kind.toLowerCase()} "${ref.name ?? ''}" not found`);
  }
  const data = kind === 'Secret' ? secretData(obj as Secret) : configMapData(obj as ConfigMap);
  const value = data[ref.key];
  if (value === undefined) {
    if (ref.optional === true) return undefined;
    throw new ContainerConfigError(`couldn't find key ${ref.key} in ${kind} ${ns}/${ref.name ?? ''}`);
  }
  return value.toString('utf8');
}

/** The container's env (without the image's own ENV, which it overrides). Throws ContainerConfigError. */
export function resolveEnv(inputs: EnvInputs): Record<string, string> {
  const env: Record<string, string> = {};
  for (const from of inputs.container.envFrom ?? []) {
    const prefix = from.prefix ?? '';
    const ref = from.secretRef ?? from.configMapRef;
    if (ref === undefined) continue;
    const kind = from.secretRef !== undefined ? 'Secret' : 'ConfigMap';
    const obj = kind === 'Secret' ? inputs.secrets.get(ref.name ?? '') : inputs.configMaps.get(ref.name ?? '');
    if (obj === undefined) {
      if (ref.optional === true) continue;
      throw new ContainerConfigError(`${kind.toLowerCase()} "${ref.name ?? ''}" not found`);
    }
    const data = kind === 'Secret' ? secretData(obj as Secret) : configMapData(obj as ConfigMap);
    for (const [k, v] of Object.entries(data)) if (ENV_NAME.test(prefix + k)) env[prefix + k] = v.toString('utf8');
  }
  for (const e of inputs.container.env ?? []) {
    const from = e.valueFrom;
    let value: string | undefined;
    if (from === undefined) value = expand(e.value ?? '', env);
    else if (from.fieldRef) value = fieldValue(from.fieldRef.fieldPath, inputs);
    else if (from.resourceFieldRef) value = resourceValue(from.resourceFieldRef, inputs);
    else if (from.secretKeyRef) value = keyRef('Secret', from.secretKeyRef, inputs);
    else if (from.configMapKeyRef) value = keyRef('ConfigMap', from.configMapKeyRef, inputs);
    if (value !== undefined) env[e.name] = value;
  }
  return env;
}

/** ceil(quantity / divisor), the value the Downward API's resourceFieldRef exposes. */
export function divideCeil(value: string | number, divisor: string | number): bigint {
  const [a, b] = [nanoUnits(value), nanoUnits(divisor)];
  if (b <= 0n) throw new QuantityError(`divisor ${JSON.stringify(divisor)} must be positive`);
  return (a + b - 1n) / b;
}
