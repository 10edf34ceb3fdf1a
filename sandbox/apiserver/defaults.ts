import { isObject, type JsonObject, type KubeObject } from './types.ts';

// The defaults the real API server fills into built-in kinds on every write (the Go types'
// SetDefaults_* functions and a few admission plugins), limited to the fields a controller,
// the operator or kubectl can observe. Each function mutates an object the request owns.

function objects(value: unknown): JsonObject[] {
  return Array.isArray(value) ? value.filter(isObject) : [];
}

function defaultProbe(probe: unknown): void {
  if (!isObject(probe)) return;
  probe['timeoutSeconds'] ??= 1;
  probe['periodSeconds'] ??= 10;
  probe['successThreshold'] ??= 1;
  probe['failureThreshold'] ??= 3;
  const http = probe['httpGet'];
  if (isObject(http)) http['scheme'] ??= 'HTTP';
}

/** imagePullPolicy: Always for `:latest` or an untagged image, otherwise IfNotPresent. */
export function defaultPullPolicy(image: unknown): string {
  if (typeof image !== 'string') return 'IfNotPresent';
  if (image.includes('@')) return 'IfNotPresent';
  const lastSegment = image.slice(image.lastIndexOf('/') + 1);
  const colon = lastSegment.lastIndexOf(':');
  if (colon < 0) return 'Always';
  return lastSegment.slice(colon + 1) === 'latest' ? 'Always' : 'IfNotPresent';
}

function defaultContainer(c: JsonObject): void {
  c['terminationMessagePath'] ??= '/dev/termination-log';
  c['terminationMessagePolicy'] ??= 'File';
  c['imagePullPolicy'] ??= defaultPullPolicy(c['image']);
  c['resources'] ??= {};
  for (const port of objects(c['ports'])) port['protocol'] ??= 'TCP';
  for (const probe of ['livenessProbe', 'readinessProbe', 'startupProbe']) defaultProbe(c[probe]);
  for (const env of objects(c['env'])) {
    const from = env['valueFrom'];
    if (isObject(from) && isObject(from['fieldRef'])) from['fieldRef']['apiVersion'] ??= 'v1';
  }
}

export function defaultPodSpec(spec: unknown): void {
  if (!isObject(spec)) return;
  spec['restartPolicy'] ??= 'Always';
  spec['terminationGracePeriodSeconds'] ??= 30;
  spec['dnsPolicy'] ??= 'ClusterFirst';
  spec['securityContext'] ??= {};
  spec['schedulerName'] ??= 'default-scheduler';
  for (const c of [...objects(spec['containers']), ...objects(spec['initContainers'])]) defaultContainer(c);
  for (const v of objects(spec['volumes'])) {
    for (const source of ['secret', 'configMap']) {
      const s = v[source];
      if (isObject(s)) s['defaultMode'] ??= 420;
    }
    if (Object.keys(v).length === 1) v['emptyDir'] = {};
  }
}

function defaultTemplate(spec: JsonObject): void {
  const template = spec['template'];
  if (isObject(template)) defaultPodSpec(template['spec']);
}

function quantityPresent(resources: unknown, kind: 'requests' | 'limits', name: string): string | undefined {
  if (!isObject(resources)) return undefined;
  const list = resources[kind];
  if (!isObject(list)) return undefined;
  const v = list[name];
  return v === undefined ? undefined : String(v);
}

/** The pod's QoS class (https://kubernetes.io/docs/concepts/workloads/pods/pod-qos/). */
export function qosClass(spec: unknown): string {
  const containers = isObject(spec) ? objects(spec['containers']) : [];
  let any = false;
  let guaranteed = containers.length > 0;
  for (const c of containers) {
    for (const r of ['cpu', 'memory']) {
      const req = quantityPresent(c['resources'], 'requests', r);
      const lim = quantityPresent(c['resources'], 'limits', r);
      if (req !== undefined || lim !== undefined) any = true;
      if (lim === undefined || (req !== undefined && req !== lim)) guaranteed = false;
    }
  }
  if (guaranteed) return 'Guaranteed';
  return any ? 'Burstable' : 'BestEffort';
}

type Defaulter = (obj: KubeObject) => void;

const specOf = (obj: KubeObject): JsonObject => {
  if (!isObject(obj['spec'])) obj['spec'] = {};
  return obj['spec'] as JsonObject;
};

export const builtinDefaults: Record<string, Defaulter> = {
  '/pods': (pod) => {
    const spec = specOf(pod);
    defaultPodSpec(spec);
    // The ServiceAccount admission plugin and the pod strategy.
    spec['serviceAccountName'] ??= 'default';
    spec['serviceAccount'] ??= spec['serviceAccountName'];
    spec['enableServiceLinks'] ??= true;
    spec['priority'] ??= 0;
    spec['preemptionPolicy'] ??= 'PreemptLowerPriority';
  },
  'apps/deployments': (d) => {
    const spec = specOf(d);
    spec['replicas'] ??= 1;
    spec['revisionHistoryLimit'] ??= 10;
    spec['progressDeadlineSeconds'] ??= 600;
    if (!isObject(spec['strategy'])) spec['strategy'] = {};
    const strategy = spec['strategy'] as JsonObject;
    strategy['type'] ??= 'RollingUpdate';
    if (strategy['type'] === 'RollingUpdate') {
      if (!isObject(strategy['rollingUpdate'])) strategy['rollingUpdate'] = {};
      const ru = strategy['rollingUpdate'] as JsonObject;
      ru['maxSurge'] ??= '25%';
      ru['maxUnavailable'] ??= '25%';
    }
    defaultTemplate(spec);
  },
  'apps/replicasets': (rs) => {
    const spec = specOf(rs);
    spec['replicas'] ??= 1;
    defaultTemplate(spec);
  },
  '/services': (svc) => {
    const spec = specOf(svc);
    spec['type'] ??= 'ClusterIP';
    spec['sessionAffinity'] ??= 'None';
    spec['internalTrafficPolicy'] ??= 'Cluster';
    if (spec['type'] === 'NodePort' || spec['type'] === 'LoadBalancer') spec['externalTrafficPolicy'] ??= 'Cluster';
    for (const port of objects(spec['ports'])) {
      port['protocol'] ??= 'TCP';
      port['targetPort'] ??= port['port'];
    }
  },
  '/namespaces': (ns) => {
    const spec = specOf(ns);
    spec['finalizers'] ??= ['kubernetes'];
    const name = ns.metadata.name ?? '';
    ns.metadata.labels = { ...ns.metadata.labels, 'kubernetes.io/metadata.name': name };
  },
  '/secrets': (secret) => {
    secret['type'] ??= 'Opaque';
    const stringData = secret['stringData'];
    if (isObject(stringData)) {
      const data = isObject(secret['data']) ? { ...secret['data'] } : {};
      for (const [k, v] of Object.entries(stringData)) data[k] = Buffer.from(String(v)).toString('base64');
      secret['data'] = data;
      delete secret['stringData'];
    }
  },
  '/endpoints': (ep) => {
    for (const subset of objects(ep['subsets'])) for (const port of objects(subset['ports'])) port['protocol'] ??= 'TCP';
  },
  'discovery.k8s.io/endpointslices': (slice) => {
    for (const port of objects(slice['ports'])) port['protocol'] ??= 'TCP';
    for (const e of objects(slice['endpoints'])) {
      if (!isObject(e['conditions'])) e['conditions'] = {};
    }
  },
};
