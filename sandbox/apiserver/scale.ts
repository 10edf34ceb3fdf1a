import { cause, invalid } from './errors.ts';
import type { ScalePaths } from './resources.ts';
import { type StructuredSelector, selectorToString } from './selectors.ts';
import { evalJsonPath } from './table.ts';
import { isObject, type JsonObject, type KubeObject } from './types.ts';

// The scale subresource (autoscaling/v1 Scale) of Deployments, ReplicaSets and CRDs that declare
// one (https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#scale-subresource).

function valueAt(obj: KubeObject, path: string | undefined): unknown {
  return path ? evalJsonPath(obj, path)[0] : undefined;
}

export function scaleOf(obj: KubeObject, paths: ScalePaths): JsonObject {
  const spec = isObject(obj['spec']) ? obj['spec'] : {};
  // Built-in workloads derive the selector from spec.selector; CRDs point at a string field.
  const selector = obj.apiVersion === 'apps/v1' ? selectorToString(spec['selector'] as StructuredSelector) : valueAt(obj, paths.labelSelectorPath);
  const status: JsonObject = { replicas: valueAt(obj, paths.statusReplicasPath) ?? 0 };
  if (typeof selector === 'string' && selector) status['selector'] = selector;
  return {
    kind: 'Scale',
    apiVersion: 'autoscaling/v1',
    metadata: {
      name: obj.metadata.name,
      namespace: obj.metadata.namespace,
      uid: obj.metadata.uid,
      resourceVersion: obj.metadata.resourceVersion,
      creationTimestamp: obj.metadata.creationTimestamp,
    },
    spec: { replicas: valueAt(obj, paths.specReplicasPath) ?? 0 },
    status,
  };
}

/** The object with the Scale's spec.replicas written at the type's replicas path. */
export function withReplicas(obj: KubeObject, scale: unknown, paths: ScalePaths, currentRv: string | undefined): KubeObject {
  const s = isObject(scale) ? scale : {};
  const replicas = isObject(s['spec']) ? s['spec']['replicas'] : undefined;
  if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0) {
    throw invalid('autoscaling', 'Scale', obj.metadata.name ?? '', [cause.invalid('spec.replicas', replicas ?? null, 'must be greater than or equal to 0')]);
  }
  const meta = isObject(s['metadata']) ? s['metadata'] : {};
  const rv = typeof meta['resourceVersion'] === 'string' && meta['resourceVersion'] ? meta['resourceVersion'] : currentRv;
  if (rv !== undefined) obj.metadata.resourceVersion = rv;
  const fields = paths.specReplicasPath.replace(/^\./, '').split('.');
  let node: JsonObject = obj;
  for (const f of fields.slice(0, -1)) {
    if (!isObject(node[f])) node[f] = {};
    node = node[f] as JsonObject;
  }
  node[fields.at(-1) ?? 'replicas'] = replicas;
  return obj;
}
