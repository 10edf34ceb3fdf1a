// The chart's RBAC, proven on both control planes: the operator process runs as a ServiceAccount
// holding exactly charts/imageops/files/*.yaml, the rules the chart's templates read with
// .Files.Get. (a) it converges through a reconcile and a canary with no 403; (b) without any one
// granted verb some step is refused with 403; (c) every granted verb was used. What was allowed
// and refused is read from the emulator's record of decisions, or from kube-apiserver's audit log
// (the Node and RBAC authorizers). Both run OwnerReferencesPermissionEnforcement, as OpenShift
// does, so the finalizers grant that blockOwnerDeletion needs is exercised too. Prometheus is off:
// the canary runs the direct provider, whose pod discovery is the one permission only analysis needs.
// The canary's ImageService serves signed URLs and lists an output sample, so its output check
// reads the signing Secret (get secrets) and fetches both revisions with signed URLs.
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { signUrl } from '../image-service/src/signing.ts';
import type { PolicyRule } from '../sandbox/apiserver/rbac.ts';
import type { AuditedDecision } from '../sandbox/control-plane/control-plane.ts';
import { samplePaths, writeSampleImages } from '../sandbox/demo/images.ts';
import { LoadGenerator } from '../sandbox/demo/load.ts';
import { type OperatorProcess, startOperatorProcess } from '../sandbox/demo/operator.ts';
import { annotate, deleteImageService, type Manifest, mergePatch, observe, patchSpec, type Ref, setImage, settledIn, waitFor } from '../sandbox/demo/rollout.ts';
import { CONTROL_PLANES, REPO_ROOT, type Sandbox, startSandbox } from '../sandbox/sandbox.ts';
import { CLAIM, hostOf, imageService, LOAD } from './canary.testkit.ts';
import { meshGet } from './sandbox.testkit.ts';

const FILES = path.join(REPO_ROOT, 'charts', 'imageops', 'files');
const readRules = (file: string) => parse(fs.readFileSync(path.join(FILES, file), 'utf8')) as PolicyRule[];
const OPERATOR_RULES = readRules('operator-rules.yaml');
const LEADER_RULES = readRules('leader-election-rules.yaml');

const RELEASE_NAMESPACE = 'imageops-system';
const ACCOUNT = 'imageops-operator';
const USER = `system:serviceaccount:${RELEASE_NAMESPACE}:${ACCOUNT}`;
const LEASE = 'imageops';
const RBAC_API = '/apis/rbac.authorization.k8s.io/v1';
const RUN_TIMEOUT_MS = 90_000;
const IMAGE_SERVICES = '/apis/imageops.dev/v1alpha1/namespaces/default/imageservices';
const HTTP_ROUTES = '/apis/gateway.networking.k8s.io/v1/namespaces/default/httproutes';
const VIRTUAL_SERVICES = '/apis/networking.istio.io/v1/namespaces/default/virtualservices';

type OwnerReference = { kind: string; blockOwnerDeletion?: boolean };
/** SLOs a busy machine always meets: the test is about permissions, not verdicts (the promotion skips the rest). */
const LENIENT = { canary: { threshold: 10 }, analysis: { latencyP99Ms: 5_000, errorRatePercent: 50, minRequests: 1 } };
/** Autoscaling needs a CPU request. */
const AUTOSCALING = { resources: { requests: { cpu: '100m' } }, autoscaling: { minReplicas: 1, maxReplicas: 2 } };
const mergeSpec = (m: Manifest, spec: Record<string, unknown>): Manifest => mergePatch(m, { spec });
/** The canary's ImageService serves signed URLs only; its output check signs with this Secret's key. */
const SIGNING_SECRET = 'rbac-signing';
const SIGNING_KEY = 'rbac-signing-key';
const SIGNED = { serving: { signingKeysSecret: SIGNING_SECRET } };
const OUTPUT = { ...LENIENT.analysis, output: { samples: [{ key: 'badge.png', params: 'w=32' }] } };
const ROUTE_PATH = signUrl('/image/files/badge.png?w=32', SIGNING_KEY);

/** One granted permission: a verb on a group's resource (or subresource). */
type Permission = { group: string; resource: string; verb: string };
const key = (p: Permission) => `${p.verb} ${p.resource}${p.group ? `.${p.group}` : ''}`;

function permissions(rules: PolicyRule[]): Permission[] {
  return rules.flatMap((r) => (r.apiGroups ?? []).flatMap((group) => (r.resources ?? []).flatMap((resource) => r.verbs.map((verb) => ({ group, resource, verb })))));
}

function matches(d: AuditedDecision, p: Permission): boolean {
  return d.apiGroup === p.group && (d.subresource ? `${d.resource}/${d.subresource}` : d.resource) === p.resource && d.verb === p.verb;
}

/** OwnerReferencesPermissionEnforcement refused a child with blockOwnerDeletion: its owner's finalizers grant is missing (kube-apiserver's words). */
const refusedBlockOwnerDeletion = (d: AuditedDecision) => d.admissionRefusal?.includes("can't set finalizers on") === true;

/** The rules without one verb of one rule (a rule left with no verbs goes). */
function without(rules: PolicyRule[], p: Permission): PolicyRule[] {
  return rules.flatMap((r) => {
    if (!(r.apiGroups ?? []).includes(p.group) || !(r.resources ?? []).includes(p.resource)) return [r];
    const verbs = r.verbs.filter((v) => v !== p.verb);
    return verbs.length > 0 ? [{ ...r, verbs }] : [];
  });
}

describe.each(CONTROL_PLANES)('the chart RBAC rules against the operator on the %s control plane', (controlPlane) => {
  let sandbox: Sandbox;
  let stateDir: string;
  let kubeconfigPath: string;
  let runs = 0;
  /** The ownerReferences on the children of the last ImageService initialised. */
  let ownerReferences: OwnerReference[] = [];

  const request = (method: string, p: string, body?: unknown) => sandbox.client.request(method, p, body);
  /** What the authorizer decided for the operator's ServiceAccount: the emulator's record, or kube-apiserver's audit log. */
  const decisions = (): AuditedDecision[] => sandbox.real?.decisions(USER) ?? sandbox.emulator?.rbac?.decisions(USER) ?? [];

  async function setRules(operatorRules: PolicyRule[], leaderRules: PolicyRule[]): Promise<void> {
    await request('PUT', `${RBAC_API}/clusterroles/${ACCOUNT}`, { metadata: { name: ACCOUNT }, rules: operatorRules });
    await request('PUT', `${RBAC_API}/namespaces/${RELEASE_NAMESPACE}/roles/${ACCOUNT}-leader-election`, {
      metadata: { name: `${ACCOUNT}-leader-election`, namespace: RELEASE_NAMESPACE },
      rules: leaderRules,
    });
  }

  beforeAll(async () => {
    stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'imageops-rbac-'));
    sandbox = await startSandbox({ stateDir, prometheus: 'off', rbac: true, controlPlane });
    await writeSampleImages(await sandbox.claim('default', CLAIM));
    await request('POST', '/api/v1/namespaces/default/secrets', { metadata: { name: SIGNING_SECRET }, data: { keys: Buffer.from(SIGNING_KEY).toString('base64') } });
    // What `helm install` creates (templates/serviceaccount.yaml, templates/rbac.yaml), from the same files.
    await request('POST', '/api/v1/namespaces', { metadata: { name: RELEASE_NAMESPACE } });
    await request('POST', `/api/v1/namespaces/${RELEASE_NAMESPACE}/serviceaccounts`, { metadata: { name: ACCOUNT } });
    const subjects = [{ kind: 'ServiceAccount', name: ACCOUNT, namespace: RELEASE_NAMESPACE }];
    const roleRef = (kind: string, name: string) => ({ apiGroup: 'rbac.authorization.k8s.io', kind, name });
    await request('POST', `${RBAC_API}/clusterroles`, { metadata: { name: ACCOUNT }, rules: OPERATOR_RULES });
    await request('POST', `${RBAC_API}/clusterrolebindings`, { metadata: { name: ACCOUNT }, roleRef: roleRef('ClusterRole', ACCOUNT), subjects });
    const leader = { name: `${ACCOUNT}-leader-election`, namespace: RELEASE_NAMESPACE };
    await request('POST', `${RBAC_API}/namespaces/${RELEASE_NAMESPACE}/roles`, { metadata: leader, rules: LEADER_RULES });
    await request('POST', `${RBAC_API}/namespaces/${RELEASE_NAMESPACE}/rolebindings`, { metadata: leader, roleRef: roleRef('Role', leader.name), subjects });
    kubeconfigPath = path.join(stateDir, 'operator-kubeconfig');
    if (sandbox.real !== undefined) {
      // As a pod gets it: a token from the TokenRequest API.
      const answer = await request('POST', `/api/v1/namespaces/${RELEASE_NAMESPACE}/serviceaccounts/${ACCOUNT}/token`, {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec: { expirationSeconds: 3600 },
      });
      const token = (answer['status'] as { token: string }).token;
      fs.writeFileSync(kubeconfigPath, sandbox.real.kubeconfig({ token }, RELEASE_NAMESPACE), { mode: 0o600 });
    } else {
      const token = sandbox.emulator?.rbac?.tokens.issueForServiceAccount(RELEASE_NAMESPACE, ACCOUNT);
      await sandbox.emulator?.writeKubeconfig(kubeconfigPath, { token: token ?? '', namespace: RELEASE_NAMESPACE });
    }
  }, 60_000);

  afterAll(async () => {
    await sandbox?.stop();
    if (stateDir) fs.rmSync(stateDir, { recursive: true, force: true });
  });

  /** The operator as the chart runs it: its own process, this ServiceAccount's token, leader election on. */
  async function startOperator(): Promise<{ operator: OperatorProcess; log: string }> {
    const dir = path.join(stateDir, `operator-${++runs}`);
    fs.mkdirSync(dir);
    // As on a fresh install: the operator creates its Lease.
    await request('DELETE', `/apis/coordination.k8s.io/v1/namespaces/${RELEASE_NAMESPACE}/leases/${LEASE}`).catch(() => undefined);
    const operator = await startOperatorProcess(
      { kubeconfigPath, prometheus: undefined, stateDir: dir },
      { LEADER_ELECTION: 'true', LEASE_NAMESPACE: RELEASE_NAMESPACE, LEASE_NAME: LEASE, POD_NAME: `imageops-operator-${runs}`, LOG_LEVEL: 'info' },
    );
    return { operator, log: path.join(dir, 'operator.log') };
  }

  /**
   * Objects with the names of an ImageService's children, made by someone else (no ownerReference,
   * not labelled), and a Service its traffic.hosts names (its own name's Service would keep the
   * VirtualService from being written at all).
   */
  function squatters(name: string): [string, Record<string, unknown>][] {
    const labels = { app: 'squatter' };
    return [
      [
        '/apis/apps/v1/namespaces/default/deployments',
        {
          metadata: { name: `${name}-primary` },
          spec: { replicas: 0, selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { containers: [{ name: 'c', image: 'example/squatter:1' }] } } },
        },
      ],
      ['/api/v1/namespaces/default/services', { metadata: { name: `${name}-alias` }, spec: { selector: labels, ports: [{ port: 8080 }] } }],
      ['/apis/networking.istio.io/v1/namespaces/default/virtualservices', { apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name }, spec: { hosts: [name] } }],
      [
        '/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers',
        {
          apiVersion: 'autoscaling/v2',
          kind: 'HorizontalPodAutoscaler',
          metadata: { name: `${name}-primary` },
          spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: `${name}-primary` }, maxReplicas: 1 },
        },
      ],
      [HTTP_ROUTES, { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name }, spec: { parentRefs: [{ group: '', kind: 'Service', name }] } }],
    ];
  }

  /**
   * What the operator does in a cluster, in order: reports children it does not own
   * (ConflictingChild, a VirtualService then an HTTPRoute), creates a new ImageService's children
   * to Initialized, reverts a hand edit of a child, runs a canary analysed at least once (its
   * output check signing its sample with the Secret's key) and promoted by annotation to
   * Succeeded, gives primary an HPA, changes and removes it, switches the router to gatewayapi
   * (the VirtualService goes), reverts a hand edit of the HTTPRoute, and switches back (the
   * HTTPRoute goes). `stop` ends it early (true), checked at every poll.
   */
  async function scenario(name: string, stop: () => boolean): Promise<boolean> {
    const ref: Ref = { namespace: 'default', name };
    const taken: Ref = { namespace: 'default', name: `${name}-taken` };
    const until = async (what: string, done: () => Promise<boolean>, timeoutMs = RUN_TIMEOUT_MS) => waitFor(what, async () => stop() || (await done()), timeoutMs, 100);
    const phase = async (phases: Parameters<typeof settledIn>[1]) => settledIn(await observe(sandbox.client, ref), phases);
    const service = () => request('GET', `/api/v1/namespaces/default/services/${name}`) as Promise<{ metadata: { labels?: Record<string, string> } }>;
    const conflicting = async (r: Ref, what: string) =>
      (await observe(sandbox.client, r))?.status.conditions?.some((c) => c.type === 'ConflictingChild' && c.status === 'True' && (c.message ?? '').includes(what)) === true;
    const router = (r: Ref, value: string) => patchSpec(sandbox.client, r, { router: value });
    const exists = (collection: string) =>
      request('GET', `${collection}/${name}`).then(
        () => true,
        () => false,
      );
    const agent = new http.Agent({ keepAlive: true });
    let load: LoadGenerator | undefined;
    const made: string[] = [];
    try {
      for (const [collection, object] of squatters(taken.name)) {
        await request('POST', collection, object);
        made.push(`${collection}/${String((object['metadata'] as { name: string }).name)}`);
      }
      await request('POST', IMAGE_SERVICES, mergeSpec(imageService(taken.name), { replicas: 0, traffic: { hosts: [`${taken.name}-alias`] }, ...AUTOSCALING }));
      await until('ConflictingChild on the VirtualService', () => conflicting(taken, `VirtualService ${taken.name}`));
      if (stop()) return true;
      await router(taken, 'gatewayapi');
      await until('ConflictingChild on the HTTPRoute', () => conflicting(taken, `HTTPRoute ${taken.name}`));
      if (stop()) return true;

      // a CPU request from the start, so that autoscaling (at the end) does not change the pod template
      await request('POST', IMAGE_SERVICES, mergeSpec(imageService(name, { ...LENIENT, analysis: OUTPUT }), { resources: AUTOSCALING.resources, ...SIGNED }));
      await until('Initialized', () => phase(['Initialized']));
      const children = await request('GET', `/apis/apps/v1/namespaces/default/deployments?labelSelector=${encodeURIComponent(`app.kubernetes.io/instance=${name}`)}`);
      ownerReferences = ((children['items'] as { metadata: { ownerReferences?: OwnerReference[] } }[] | undefined) ?? []).flatMap((d) => d.metadata.ownerReferences ?? []);
      await until('the route to answer', async () => (await meshGet(sandbox.mesh, hostOf(ref), ROUTE_PATH, agent)).status === 200, 60_000);
      if (stop()) return true;
      await sandbox.client.request('PATCH', `/api/v1/namespaces/default/services/${name}`, { metadata: { labels: { 'app.kubernetes.io/name': 'edited-by-hand' } } }, 'application/merge-patch+json');
      await until('the hand edit to be reverted', async () => (await service()).metadata.labels?.['app.kubernetes.io/name'] === 'image-service');
      if (stop()) return true;
      const paths = samplePaths().map((p) => signUrl(p, SIGNING_KEY));
      load = new LoadGenerator({ target: sandbox.mesh, host: hostOf(ref), paths, concurrency: LOAD.concurrency, ratePerSecond: LOAD.ratePerSecond, maxDurationMs: RUN_TIMEOUT_MS });
      load.start();
      await setImage(sandbox.client, ref, 'imageops/image-service:1.1.0');
      await until('a first analysis of the canary', async () => (await observe(sandbox.client, ref))?.status.lastAnalysis !== undefined);
      if (stop()) return true;
      // Both revisions answered the output check's signed sample: unsigned, each would answer 403 and fail it.
      const analysis = (await observe(sandbox.client, ref))?.status.lastAnalysis;
      expect(analysis?.output, JSON.stringify(analysis)).toMatchObject({ samples: 1, failed: 0 });
      await annotate(sandbox.client, ref, 'imageops.dev/promote', 'true');
      await until('Succeeded', () => phase(['Succeeded']));
      if (stop()) return true;
      // primary's HPA: created with autoscaling, replaced when it changes, deleted when it goes
      const hpaMax = async () => {
        const hpa = await request('GET', `/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers/${name}-primary`).catch(() => undefined);
        return (hpa?.['spec'] as { maxReplicas?: number } | undefined)?.maxReplicas;
      };
      for (const [maxReplicas, want] of [
        [2, 2],
        [3, 3],
        [null, undefined],
      ] as const) {
        const autoscaling = maxReplicas === null ? null : { ...AUTOSCALING.autoscaling, maxReplicas };
        await sandbox.client.request('PATCH', `${IMAGE_SERVICES}/${name}`, { spec: { autoscaling } }, 'application/merge-patch+json');
        await until(`the HPA's maxReplicas to be ${String(want)}`, async () => (await hpaMax()) === want);
        if (stop()) return true;
      }
      await load.stop();
      await router(ref, 'gatewayapi');
      await until('the VirtualService to give way to an HTTPRoute', async () => (await exists(HTTP_ROUTES)) && !(await exists(VIRTUAL_SERVICES)));
      if (stop()) return true;
      await sandbox.client.request('PATCH', `${HTTP_ROUTES}/${name}`, { spec: { hostnames: ['edited.example.com'] } }, 'application/merge-patch+json');
      await until('the HTTPRoute edit to be reverted', async () => ((await request('GET', `${HTTP_ROUTES}/${name}`))['spec'] as { hostnames?: string[] }).hostnames?.length === 0);
      await until('the route through the HTTPRoute to answer', async () => (await meshGet(sandbox.mesh, hostOf(ref), ROUTE_PATH, agent)).status === 200, 60_000);
      if (stop()) return true;
      await router(ref, 'istio');
      await until('the HTTPRoute to give way to a VirtualService', async () => (await exists(VIRTUAL_SERVICES)) && !(await exists(HTTP_ROUTES)));
      return stop();
    } finally {
      await load?.stop();
      agent.destroy();
      for (const r of [ref, taken]) await deleteImageService(sandbox.client, r).catch(() => undefined);
      for (const p of made) await request('DELETE', p).catch(() => undefined);
    }
  }

  let fullRun: AuditedDecision[] = [];

  it(
    '(a) converges through a reconcile and a promoted canary with no 403',
    async () => {
      const before = decisions().length;
      const { operator, log } = await startOperator();
      const denied = () =>
        fullRun.filter((d) => !d.allowed).map((d) => `${d.verb} ${d.resource}${d.subresource ? `/${d.subresource}` : ''}${d.apiGroup ? `.${d.apiGroup}` : ''} in ${d.namespace || 'cluster'}`);
      try {
        await scenario('rbac-full', () => false);
      } catch (err) {
        fullRun = decisions().slice(before);
        throw new Error(`${String(err)}; refused: ${[...new Set(denied())].join(', ') || 'nothing'}`);
      } finally {
        await operator.stop();
      }
      fullRun = decisions().slice(before);
      expect(denied()).toEqual([]);
      expect(fs.readFileSync(log, 'utf8')).not.toMatch(/forbidden|\b403\b/i);
    },
    2 * RUN_TIMEOUT_MS,
  );

  it('(c) uses every permission it is granted', async () => {
    expect(fullRun.length).toBeGreaterThan(0);
    const granted = [...permissions(OPERATOR_RULES), ...permissions(LEADER_RULES)];
    // kube-apiserver audits requests, not the checks an admission plugin makes itself: there the
    // finalizers grant shows only when it is missing (b). The blockOwnerDeletion asserted below is
    // what makes OwnerReferencesPermissionEnforcement check it.
    const admissionOnly = sandbox.real ? ['update imageservices/finalizers.imageops.dev'] : [];
    const unused = granted
      .filter((p) => !fullRun.some((d) => d.allowed && matches(d, p)))
      .map(key)
      .filter((k) => !admissionOnly.includes(k));
    expect(unused).toEqual([]);
    // imageservices/finalizers is used through OwnerReferencesPermissionEnforcement, because children block their owner's deletion.
    expect(ownerReferences).toEqual([expect.objectContaining({ kind: 'ImageService', blockOwnerDeletion: true }), expect.objectContaining({ kind: 'ImageService', blockOwnerDeletion: true })]);
  });

  describe('(b) without any one granted verb, a step is refused with 403', () => {
    const cases = [...permissions(OPERATOR_RULES).map((p) => ({ p, leader: false })), ...permissions(LEADER_RULES).map((p) => ({ p, leader: true }))];
    it.each(cases.map((c) => [key(c.p), c] as const))(
      '%s',
      async (_name, { p, leader }) => {
        await setRules(leader ? OPERATOR_RULES : without(OPERATOR_RULES, p), leader ? without(LEADER_RULES, p) : LEADER_RULES);
        const before = decisions().length;
        const refused = () =>
          decisions()
            .slice(before)
            .some((d) => (!d.allowed && matches(d, p)) || (p.resource.endsWith('/finalizers') && refusedBlockOwnerDeletion(d)));
        const { operator } = await startOperator();
        try {
          await scenario(`rbac-${runs}`, refused).catch((err: unknown) => {
            if (!refused()) throw err;
          });
        } finally {
          await operator.stop();
          await setRules(OPERATOR_RULES, LEADER_RULES);
        }
        expect(refused()).toBe(true);
      },
      2 * RUN_TIMEOUT_MS,
    );
  });
});
