import { describe, expect, it } from 'vitest';
import { buildDeployment } from './deployment.ts';
import { exampleFixtures } from './image-services.testkit.ts';
import { ownedDifferences, ownedEqual } from './owned.ts';
import { buildPodTemplate } from './pod-template.ts';
import { buildServices } from './services.ts';
import { buildVirtualService } from './virtual-service.ts';

const isvc = exampleFixtures().get('complete.yaml')!;
const desired = buildDeployment({ isvc, track: 'primary', template: buildPodTemplate(isvc), replicas: 3 });
const clone = <T>(v: T): T => structuredClone(v);

// the tests edit live objects as the JSON they are
type Obj = Record<string, any>;

/** The Deployment as a real API server returns it: metadata, defaults, canonical quantities, status, omitted empties. */
function asServerReturns(d: unknown): Obj {
  const live = clone(d) as Obj;
  Object.assign(live.metadata, {
    uid: 'd-1',
    resourceVersion: '4711',
    generation: 2,
    creationTimestamp: '2026-11-22T00:00:00Z',
    managedFields: [{ manager: 'imageops', operation: 'Update' }],
  });
  live.metadata.annotations = { 'deployment.kubernetes.io/revision': '3', 'kubectl.kubernetes.io/last-applied-configuration': '{}' };
  live.metadata.labels['team'] = 'images';
  const pod = live.spec.template.spec;
  Object.assign(pod, { restartPolicy: 'Always', dnsPolicy: 'ClusterFirst', schedulerName: 'default-scheduler' });
  live.spec.template.metadata.annotations['kubectl.kubernetes.io/restartedAt'] = '2026-11-22T00:00:00Z';
  for (const c of pod.containers) {
    Object.assign(c, { imagePullPolicy: 'IfNotPresent', terminationMessagePath: '/dev/termination-log', terminationMessagePolicy: 'File' });
    c.readinessProbe.successThreshold = 1;
    c.readinessProbe.httpGet.scheme = 'HTTP';
    c.livenessProbe.successThreshold = 1;
    c.livenessProbe.httpGet.scheme = 'HTTP';
    c.resources.limits.cpu = '1500m';
    c.resources.requests.memory = '268435456'; // = 256Mi, as a number of bytes
    for (const e of c.env) if (e.valueFrom?.fieldRef) e.valueFrom.fieldRef.apiVersion = 'v1';
  }
  live.status = { replicas: 3, readyReplicas: 3, observedGeneration: 2 };
  return live;
}

describe('owned-field comparison', () => {
  it('a live Deployment with server defaults and extra labels and annotations equals its desired form', () => {
    const live = asServerReturns(desired);
    expect(ownedDifferences(desired, live)).toEqual([]);
  });

  it('an empty desired value matches a field the server omitted', () => {
    expect(ownedEqual({ env: [{ name: 'A', value: '' }], volumes: [{ name: 'tmp', emptyDir: {} }] }, { env: [{ name: 'A' }], volumes: [{ name: 'tmp', emptyDir: {} }] })).toBe(true);
    expect(ownedEqual({ env: [{ name: 'A', value: '' }] }, { env: [{ name: 'A', value: 'x' }] })).toBe(false);
  });

  it('quantities compare by value, only under requests and limits', () => {
    expect(ownedEqual({ resources: { limits: { cpu: '1.5' } } }, { resources: { limits: { cpu: '1500m' } } })).toBe(true);
    expect(ownedEqual({ resources: { limits: { cpu: '1.5' } } }, { resources: { limits: { cpu: '2' } } })).toBe(false);
    expect(ownedEqual({ value: '1.5' }, { value: '1500m' })).toBe(false);
  });

  const edits: [string, (live: Obj) => void, RegExp][] = [
    ['the image', (l) => (l.spec.template.spec.containers[0].image = 'evil:latest'), /containers\[image-service\]\.image$/],
    ['replicas', (l) => (l.spec.replicas = 1), /^spec\.replicas$/],
    ['an owned label', (l) => (l.metadata.labels['imageops.dev/track'] = 'canary'), /metadata\.labels\.imageops\.dev\/track/],
    ['an env value', (l) => (l.spec.template.spec.containers[0].env.find((e: Obj) => e.name === 'IMAGE_SERVICE_WORKERS').value = '8'), /env\[IMAGE_SERVICE_WORKERS\]\.value/],
    ['a removed env var', (l) => l.spec.template.spec.containers[0].env.splice(0, 1), /env\[IMAGE_SOURCE\]/],
    ['an env var added by hand', (l) => l.spec.template.spec.containers[0].env.push({ name: 'DEBUG', value: '1' }), /env\[DEBUG\]/],
    ['the memory limit', (l) => (l.spec.template.spec.containers[0].resources.limits.memory = '1Gi'), /limits\.memory/],
    ['a dropped capability list', (l) => (l.spec.template.spec.containers[0].securityContext.capabilities.drop = []), /capabilities\.drop/],
    ['the probe path', (l) => (l.spec.template.spec.containers[0].readinessProbe.httpGet.path = '/'), /readinessProbe\.httpGet\.path/],
    ['the owner reference', (l) => (l.metadata.ownerReferences = []), /ownerReferences/],
    ['the rolling update strategy', (l) => (l.spec.strategy.rollingUpdate.maxUnavailable = '25%'), /maxUnavailable/],
  ];
  it.each(edits)('a hand edit of %s is a difference', (_what, edit, path) => {
    const live = asServerReturns(desired);
    edit(live);
    const diffs = ownedDifferences(desired, live);
    expect(diffs.map((d) => d.path).join(' ')).toMatch(path);
  });

  it('reordered named lists are equal; reordered positional lists are not', () => {
    const live = asServerReturns(desired);
    live.spec.template.spec.containers[0].env.reverse();
    expect(ownedEqual(desired, live)).toBe(true);
    const vs = buildVirtualService(isvc, { weight: 30, canaryRunning: false, mirrorPercent: 0 });
    const liveVs = clone(vs) as Obj;
    liveVs.spec.http[0].route.reverse();
    expect(ownedEqual(vs, liveVs)).toBe(false);
    expect(ownedEqual(vs, buildVirtualService(isvc, { weight: 30, canaryRunning: false, mirrorPercent: 0 }))).toBe(true);
    expect(ownedEqual(vs, buildVirtualService(isvc, { weight: 40, canaryRunning: false, mirrorPercent: 0 }))).toBe(false);
  });

  it('Services with a cluster IP and other server fields equal their desired form', () => {
    for (const svc of buildServices(isvc)) {
      const live = clone(svc) as Obj;
      Object.assign(live.spec, { clusterIP: '10.0.0.7', clusterIPs: ['10.0.0.7'], sessionAffinity: 'None', ipFamilies: ['IPv4'], internalTrafficPolicy: 'Cluster' });
      live.metadata.resourceVersion = '1';
      expect(ownedEqual(svc, live)).toBe(true);
      live.spec.selector['imageops.dev/track'] = live.spec.selector['imageops.dev/track'] === 'primary' ? 'canary' : 'primary';
      expect(ownedEqual(svc, live)).toBe(false);
    }
  });

  it('a missing live object differs', () => {
    expect(ownedEqual(desired, undefined)).toBe(false);
  });
});
