// The Helm chart through the real helm on the real control plane: lint, a matrix of values rendered
// with the cluster's own capabilities and every object accepted by kube-apiserver (a server-side
// dry run, in namespaces that enforce the restricted Pod Security level), invalid values refused
// with the key named, and the README's install and uninstall commands run as written.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { dashboard } from '../operator/src/dashboard.ts';
import { REPO_ROOT, type Sandbox, startSandbox } from '../sandbox/sandbox.ts';
import { readmeCommand, runTool } from './readme-commands.testkit.ts';
import { waitFor } from './sandbox.testkit.ts';

const CHART = path.join(REPO_ROOT, 'charts', 'imageops');
const FIXTURES = path.join(REPO_ROOT, 'test', 'fixtures', 'chart-values');
/** The matrix's release namespace; the README's install uses its own (imageops-system). */
const NS = 'operators';
const WATCHED = ['shop', 'media'];

type Manifest = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string }; spec?: Record<string, unknown> };

let sb: Sandbox;
let dir: string;

const run = (command: string, args: string[], stdin = '') => runTool(sb.kubeconfigPath, command, args, stdin);
const kubectl = (...args: string[]) => run('kubectl', args);
const helm = (...args: string[]) => run('helm', args);

async function getJson<T>(...args: string[]): Promise<T> {
  const r = await kubectl('get', ...args, '-o', 'json');
  expect(r.stderr).toBe('');
  return JSON.parse(r.stdout) as T;
}

function valuesFile(name: string, values: unknown): string {
  const file = path.join(dir, `${name.replace(/\W+/g, '-')}.yaml`);
  fs.writeFileSync(file, stringify(values));
  return file;
}

/** `helm template` with the cluster's version and API groups (`--dry-run=server`), as objects. */
async function render(release: string, values: unknown): Promise<{ yaml: string; objects: Manifest[] }> {
  const r = await helm('template', release, CHART, '--namespace', NS, '--dry-run=server', '-f', valuesFile(release, values));
  expect(r.code, r.stderr).toBe(0);
  const objects = parseAllDocuments(r.stdout)
    .map((d) => d.toJS() as Manifest | null)
    .filter((o): o is Manifest => o !== null);
  return { yaml: r.stdout, objects };
}

/** Server-side apply as a dry run: admission, validation (unknown fields refused) and Pod Security, nothing stored. */
async function dryRun(yaml: string): Promise<Manifest[]> {
  // ServiceAccount admission refuses a Pod whose ServiceAccount does not exist, and a dry run
  // stores none: the test hook's is created first, as `helm test` does (hook weight -1).
  const docs = parseAllDocuments(yaml).map((d) => d.toJS() as Manifest | null);
  const accounts = docs.flatMap((o) => (o?.kind === 'Pod' ? [(o.spec as { serviceAccountName?: string }).serviceAccountName ?? 'default'] : []));
  const created = docs.filter((o): o is Manifest => o?.kind === 'ServiceAccount' && accounts.includes(o.metadata.name));
  for (const sa of created) expect((await kubectl('create', 'serviceaccount', sa.metadata.name, '-n', sa.metadata.namespace ?? NS)).code).toBe(0);
  try {
    return await dryRunAll(yaml);
  } finally {
    for (const sa of created) await kubectl('delete', 'serviceaccount', sa.metadata.name, '-n', sa.metadata.namespace ?? NS);
  }
}

async function dryRunAll(yaml: string): Promise<Manifest[]> {
  const r = await run('kubectl', ['apply', '--server-side', '--dry-run=server', '--validate=strict', '-o', 'json', '-f', '-'], yaml);
  // No warning either: a restricted-level violation or a deprecated field is one.
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const out = JSON.parse(r.stdout) as Manifest | { kind: 'List'; items: Manifest[] };
  return 'items' in out ? out.items : [out];
}

const ids = (objects: Manifest[]) => objects.map((o) => `${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`).sort();

function container(deployment: Manifest | undefined): { env: { name: string; value?: string }[]; image: string; resources: unknown } {
  const spec = deployment?.spec as { template: { spec: { containers: { env: { name: string; value?: string }[]; image: string; resources: unknown }[] } } } | undefined;
  const c = spec?.template.spec.containers[0];
  if (c === undefined) throw new Error('the Deployment has no container');
  return c;
}
// an empty value is left out of what the server returns (omitempty); the container sees it set, empty
const envOf = (deployment: Manifest | undefined) => Object.fromEntries(container(deployment).env.map((e) => [e.name, e.value ?? '']));

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'imageops-helm-'));
  sb = await startSandbox({ stateDir: path.join(dir, 'sandbox'), controlPlane: 'real', prometheus: 'off' });
  for (const ns of [NS, ...WATCHED]) {
    expect((await kubectl('create', 'namespace', ns)).code).toBe(0);
    // warn as well as enforce: a Deployment's pod template is only warned about, never refused
    const psa = await kubectl('label', 'namespace', ns, 'pod-security.kubernetes.io/enforce=restricted', 'pod-security.kubernetes.io/warn=restricted');
    expect(psa.code, psa.stderr).toBe(0);
  }
  const real = sb.real;
  if (real === undefined) throw new Error('the sandbox did not start the real control plane');
  const monitor = await kubectl('apply', '--server-side', '-f', real.build.crd('servicemonitor'));
  expect(monitor.code, monitor.stderr).toBe(0);
  expect((await kubectl('wait', '--for=condition=Established', 'crd/servicemonitors.monitoring.coreos.com', '--timeout=30s')).code).toBe(0);
}, 180_000);

afterAll(async () => {
  await sb?.stop();
  if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
});

describe('helm lint', () => {
  it('passes with --strict', async () => {
    const r = await helm('lint', '--strict', CHART);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('1 chart(s) linted, 0 chart(s) failed');
  });

  it("refuses a cluster older than the chart's kubeVersion, the README's requirement", async () => {
    const { kubeVersion } = parse(fs.readFileSync(path.join(CHART, 'Chart.yaml'), 'utf8')) as { kubeVersion: string };
    const minor = Number(/^>=1\.(\d+)\.0-0$/.exec(kubeVersion)?.[1]);
    expect(fs.readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8')).toContain(`Requirements: Kubernetes 1.${minor} or newer`);
    const older = `v1.${minor - 1}.9`;
    const r = await helm('template', 'imageops', CHART, '--kube-version', older);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`chart requires kubeVersion: ${kubeVersion} which is incompatible with Kubernetes ${older}`);
    expect((await helm('template', 'imageops', CHART, '--kube-version', `v1.${minor}.0`)).code).toBe(0);
  });
});

describe('helm template, every object accepted by kube-apiserver', () => {
  /** The `helm test` hook (`helm template` renders it too), with the metrics Service it checks. */
  const testHook = (release: string) => ['ServiceAccount', 'Role', 'RoleBinding', 'Pod'].map((kind) => `${kind} ${NS}/${release}-test`);
  const common = (release: string) => [`ServiceAccount ${NS}/${release}`, `Deployment ${NS}/${release}`, `Service ${NS}/${release}-metrics`, ...testHook(release)];
  const leaderElection = (release: string) => [`Role ${NS}/${release}-leader-election`, `RoleBinding ${NS}/${release}-leader-election`];
  const clusterRbac = (release: string) => [`ClusterRole /${release}`, `ClusterRoleBinding /${release}`];
  const pdb = (release: string) => [`PodDisruptionBudget ${NS}/${release}`];

  const MATRIX: { name: string; values: Record<string, unknown>; objects: (release: string) => string[]; check?: (deployment: Manifest | undefined, objects: Manifest[]) => void }[] = [
    {
      name: 'defaults',
      values: {},
      objects: (r) => [...common(r), ...leaderElection(r), ...clusterRbac(r), ...pdb(r)],
      check: (d) => {
        expect(envOf(d)['WATCH_NAMESPACES']).toBe('');
        expect((d!.spec as { replicas: number }).replicas).toBe(2);
      },
    },
    {
      name: 'one watched namespace',
      values: { watchNamespaces: ['shop'] },
      objects: (r) => [...common(r), ...leaderElection(r), ...pdb(r), `Role shop/${r}`, `RoleBinding shop/${r}`],
      check: (d) => expect(envOf(d)['WATCH_NAMESPACES']).toBe('shop'),
    },
    {
      name: 'several watched namespaces',
      values: { watchNamespaces: WATCHED },
      objects: (r) => [...common(r), ...leaderElection(r), ...clusterRbac(r), ...pdb(r)],
      check: (d) => expect(envOf(d)['WATCH_NAMESPACES']).toBe('shop,media'),
    },
    {
      name: 'ServiceMonitor and PDB',
      values: { metrics: { port: 9090, serviceMonitor: { enabled: true, interval: '15s', labels: { release: 'kps' } } }, podDisruptionBudget: { enabled: true, minAvailable: 1 } },
      objects: (r) => [...common(r), ...leaderElection(r), ...clusterRbac(r), ...pdb(r), `ServiceMonitor ${NS}/${r}`],
      check: (d, objects) => {
        expect(envOf(d)['METRICS_ADDRESS']).toBe('0.0.0.0:9090');
        const monitor = objects.find((o) => o.kind === 'ServiceMonitor');
        expect(monitor?.spec).toMatchObject({ endpoints: [{ port: 'metrics', interval: '15s' }] });
      },
    },
    {
      name: 'Grafana dashboards',
      values: { grafana: { dashboards: { enabled: true, namespace: 'media', labels: { team: 'media' }, annotations: { grafana_folder: 'imageops' } } } },
      objects: (r) => [...common(r), ...leaderElection(r), ...clusterRbac(r), ...pdb(r), `ConfigMap media/${r}-dashboards`],
      check: (_d, objects) => {
        const map = objects.find((o) => o.kind === 'ConfigMap') as
          | (Manifest & { metadata: { labels: Record<string, string>; annotations: Record<string, string> }; data: Record<string, string> })
          | undefined;
        expect(map?.metadata.labels).toMatchObject({ grafana_dashboard: '1', team: 'media' });
        expect(map?.metadata.annotations).toEqual({ grafana_folder: 'imageops' });
        // the chart ships the generated dashboard as it is
        expect(Object.keys(map?.data ?? {})).toEqual(['imageops.json']);
        expect(JSON.parse(map?.data['imageops.json'] ?? '')).toEqual(dashboard());
      },
    },
    {
      name: 'one replica without leader election',
      values: { replicaCount: 1, leaderElection: { enabled: false } },
      // no PDB: with one replica minAvailable 1 would block every drain
      objects: (r) => [...common(r), ...clusterRbac(r)],
      check: (d) => expect(envOf(d)['LEADER_ELECTION']).toBe('false'),
    },
    {
      name: 'custom resources and heap limit',
      values: { resources: { requests: { cpu: '250m', memory: '256Mi' }, limits: { cpu: 1, memory: '1Gi' } }, heapLimitMiB: 512 },
      objects: (r) => [...common(r), ...leaderElection(r), ...clusterRbac(r), ...pdb(r)],
      check: (d) => {
        // as the server stores them: the number 1 is the quantity "1"
        expect(container(d).resources).toEqual({ requests: { cpu: '250m', memory: '256Mi' }, limits: { cpu: '1', memory: '1Gi' } });
        expect(envOf(d)['NODE_OPTIONS']).toBe('--max-old-space-size=512');
      },
    },
    {
      name: 'every other value set',
      values: {
        image: { repository: 'registry.example/imageops/operator', tag: '0.2.0', pullPolicy: 'Always' },
        imagePullSecrets: [{ name: 'regcred' }],
        prometheus: { url: 'http://prometheus.monitoring:9090' },
        logLevel: 'debug',
        workers: 8,
        resyncSeconds: 0,
        podAnnotations: { 'example.com/owner': 'media' },
        podLabels: { team: 'media' },
        nodeSelector: { 'kubernetes.io/os': 'linux' },
        tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'ops', effect: 'NoSchedule' }],
        affinity: { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 1, preference: { matchExpressions: [{ key: 'tier', operator: 'In', values: ['ops'] }] } }] } },
        priorityClassName: 'system-cluster-critical',
        topologySpread: { enabled: true, maxSkew: 2, whenUnsatisfiable: 'DoNotSchedule' },
        serviceAccount: { create: false, name: 'existing' },
        metrics: { port: 8080, service: { enabled: true, type: 'NodePort' } },
        podDisruptionBudget: { enabled: true, minAvailable: '50%' },
      },
      objects: (r) => [`Deployment ${NS}/${r}`, `Service ${NS}/${r}-metrics`, ...testHook(r), ...leaderElection(r), ...clusterRbac(r), ...pdb(r)],
      check: (d) => {
        expect(container(d).image).toBe('registry.example/imageops/operator:0.2.0');
        expect(envOf(d)).toMatchObject({ PROMETHEUS_URL: 'http://prometheus.monitoring:9090', LOG_LEVEL: 'debug', WORKERS: '8', RESYNC_SECONDS: '0' });
        expect((d!.spec as { template: { spec: { serviceAccountName: string } } }).template.spec.serviceAccountName).toBe('existing');
      },
    },
  ];

  it.each(MATRIX)('$name', async ({ name, values, objects, check }) => {
    const release = name === 'defaults' ? 'imageops' : `m${MATRIX.findIndex((m) => m.name === name)}`;
    const fullname = release === 'imageops' ? 'imageops' : `${release}-imageops`;
    const rendered = await render(release, values);
    expect(ids(rendered.objects)).toEqual(objects(fullname).sort());
    const accepted = await dryRun(rendered.yaml);
    expect(ids(accepted)).toEqual(ids(rendered.objects));
    check?.(
      accepted.find((o) => o.kind === 'Deployment'),
      accepted,
    );
  });

  // Helm accepts release names of up to 53 characters that may start with a digit or hold dots;
  // every object's name must still be one kube-apiserver accepts (a Service's is a DNS-1035 label).
  it.each([
    ['the longest', 'r'.repeat(53)],
    ['starting with a digit', '1ops'],
    ['holding a dot', 'media.ops'],
  ])('a release name %s', async (_what, release) => {
    const rendered = await render(release, {});
    expect(rendered.objects.length).toBeGreaterThan(0);
    expect(ids(await dryRun(rendered.yaml))).toEqual(ids(rendered.objects));
  });
});

describe('invalid values', () => {
  /** Each fixture, and what helm says of it: the key's path and the broken rule. */
  const REFUSED: Record<string, string> = {
    'bad-gateway.yaml': "at '/tenancy/allowedGateways/0': 'public' does not match pattern",
    'bad-image-registry.yaml': "at '/tenancy/allowedImageRegistries/0': 'https://registry.example.com' does not match pattern",
    'bad-dashboard-namespace.yaml': "at '/grafana/dashboards/namespace': 'Monitoring' does not match pattern",
    'bad-interval.yaml': "at '/metrics/serviceMonitor/interval': 'soon' does not match pattern",
    'bad-log-level.yaml': "at '/logLevel': value must be one of 'trace', 'debug', 'info', 'warn', 'error', 'fatal'",
    'bad-namespace.yaml': "at '/watchNamespaces/0': 'Shop_Front' does not match pattern",
    'bad-port.yaml': "at '/metrics/port': maximum: got 70,000, want 65,535",
    'bad-prometheus-allowed-url.yaml': "at '/prometheus/allowedUrls/0': 'prometheus.monitoring:9090' does not match pattern",
    'bad-prometheus-url.yaml': "at '/prometheus/url': 'prometheus:9090' does not match pattern '^https?://'",
    'bad-pull-policy.yaml': "at '/image/pullPolicy': value must be one of 'Always', 'IfNotPresent', 'Never'",
    'bad-quantity.yaml': "at '/resources/limits/cpu': 'one' does not match pattern",
    'duplicate-namespaces.yaml': "at '/watchNamespaces': items at 0 and 1 are equal",
    'host-path-string.yaml': "at '/tenancy/allowHostPath': got string, want boolean",
    'lease-too-short.yaml': "at '/leaderElection/leaseDurationSeconds': minimum: got 1, want 5",
    'non-string-annotation.yaml': "at '/podAnnotations/prometheus.io~1scrape': got boolean, want string",
    'replicas-string.yaml': "at '/replicaCount': got string, want integer",
    'replicas-without-leader-election.yaml': "at '/leaderElection/enabled': value must be true",
    'replicas-zero.yaml': "at '/replicaCount': minimum: got 0, want 1",
    'resync-negative.yaml': "at '/resyncSeconds': minimum: got -1, want 0",
    'typo-nested.yaml': "at '/image': additional properties 'pullpolicy' not allowed",
    'typo-service-monitor.yaml': "at '/metrics': additional properties 'servicemonitor' not allowed",
    'typo-top-level.yaml': "at '': additional properties 'replicaCont' not allowed",
    'unknown-resource.yaml': "at '/resources/limits': additional properties 'gpu' not allowed",
  };

  it('has an expected answer for every fixture', () => {
    expect(
      fs
        .readdirSync(FIXTURES)
        .filter((f) => f.endsWith('.yaml'))
        .sort(),
    ).toEqual(Object.keys(REFUSED).sort());
  });

  it.each(Object.entries(REFUSED))('helm install refuses %s, naming the key, and installs nothing', async (file, message) => {
    const r = await helm('install', 'refused', CHART, '--namespace', NS, '-f', path.join(FIXTURES, file));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("values don't meet the specifications of the schema(s)");
    expect(r.stderr).toContain(message);
    expect((await helm('status', 'refused', '--namespace', NS)).stderr).toContain('release: not found');
  });
});

describe("the README's install, upgrade and uninstall on the real control plane", () => {
  const RELEASE_NS = 'imageops-system';
  const SA = `system:serviceaccount:${RELEASE_NS}:imageops`;

  /** Runs a shell command of the README (backslash continuations joined) as written, with the registry placeholder filled in; it must succeed. */
  async function runReadme(prefix: string): Promise<{ args: string[]; stdout: string }> {
    const { tool, args } = readmeCommand(prefix, prefix.startsWith('helm install') ? { REGISTRY: 'registry.test' } : {});
    expect(['helm', 'kubectl']).toContain(tool);
    const r = await run(tool, args);
    expect(r.code, r.stderr).toBe(0);
    return { args, stdout: r.stdout };
  }

  /** What the README's --set values put into the Deployment. */
  async function expectReadmeValues(): Promise<Manifest> {
    const deployment = await getJson<Manifest>('deployment', 'imageops', '-n', RELEASE_NS);
    expect(container(deployment).image).toBe('registry.test/imageops/operator:0.1.0');
    expect(envOf(deployment)['PROMETHEUS_URL']).toBe('http://prometheus.monitoring:9090');
    return deployment;
  }

  const canI = async (...args: string[]) => (await kubectl('auth', 'can-i', `--as=${SA}`, ...args)).stdout.trim();

  it('installs the release: the CRD from crds/, RBAC the API server enforces, two operator replicas', async () => {
    // The sandbox installs the CRD at start; without it, this install is the one that creates it, as on a new cluster.
    expect((await kubectl('delete', 'crd', 'imageservices.imageops.dev', '--wait')).code).toBe(0);

    const r = await runReadme('helm install imageops');
    expect(r.args).toEqual(expect.arrayContaining(['--create-namespace', 'image.repository=registry.test/imageops/operator']));
    expect(r.stdout).toContain('STATUS: deployed');
    expect(r.stdout).toContain('imageops 0.1.0 is installed in imageops-system.');
    expect(r.stdout).toContain('http://prometheus.monitoring:9090');

    expect((await kubectl('wait', '--for=condition=Established', 'crd/imageservices.imageops.dev', '--timeout=30s')).code).toBe(0);
    const deployment = await expectReadmeValues();
    expect((deployment.spec as { replicas: number }).replicas).toBe(2);
    expect(envOf(deployment)).toMatchObject({ LEADER_ELECTION: 'true', LEASE_NAME: 'imageops' });
    const named = await kubectl(
      'get',
      'serviceaccount/imageops',
      'service/imageops-metrics',
      'poddisruptionbudget/imageops',
      'role/imageops-leader-election',
      'rolebinding/imageops-leader-election',
      '-n',
      RELEASE_NS,
      '-o',
      'name',
    );
    expect(named.stdout.trim().split('\n')).toEqual([
      'serviceaccount/imageops',
      'service/imageops-metrics',
      'poddisruptionbudget.policy/imageops',
      'role.rbac.authorization.k8s.io/imageops-leader-election',
      'rolebinding.rbac.authorization.k8s.io/imageops-leader-election',
    ]);
    const binding = await getJson<{ roleRef: { kind: string; name: string }; subjects: unknown[] }>('clusterrolebinding', 'imageops');
    expect(binding.roleRef).toMatchObject({ kind: 'ClusterRole', name: 'imageops' });
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'imageops', namespace: RELEASE_NS }]);

    // kube-apiserver's RBAC authorizer, asked as the operator's ServiceAccount
    expect(await canI('watch', 'imageservices.imageops.dev', '--all-namespaces')).toBe('yes');
    expect(await canI('update', 'imageservices.imageops.dev', '--subresource=status', '-n', 'shop')).toBe('yes');
    expect(await canI('create', 'deployments.apps', '-n', 'shop')).toBe('yes');
    expect(await canI('update', 'leases.coordination.k8s.io', '-n', RELEASE_NS)).toBe('yes');
    expect(await canI('update', 'leases.coordination.k8s.io', '-n', 'shop')).toBe('no');
    expect(await canI('delete', 'deployments.apps', '-n', 'shop')).toBe('no');
    // Secrets: one by name (the signing Secret an ImageService names, for its output check), never a list or a watch.
    expect(await canI('get', 'secrets', '-n', 'shop')).toBe('yes');
    expect(await canI('list', 'secrets', '-n', RELEASE_NS)).toBe('no');
    expect(await canI('watch', 'secrets', '--all-namespaces')).toBe('no');

    // kube-controller-manager makes the two pods and kube-scheduler places them under the chart's
    // ServiceAccount; test/helm-install.e2e.test.ts follows the operator they run through a rollout.
    const pods = await waitFor('two operator pods scheduled', async () => {
      const list = await getJson<{ items: { spec: { nodeName?: string; serviceAccountName: string } }[] }>('pods', '-n', RELEASE_NS, '-l', 'app.kubernetes.io/instance=imageops');
      return list.items.length === 2 && list.items.every((p) => p.spec.nodeName !== undefined) ? list.items : undefined;
    });
    expect(pods.map((p) => p.spec.serviceAccountName)).toEqual(['imageops', 'imageops']);
  }, 120_000);

  it('upgrades as the README says: the CRD applied first, then helm upgrade --reuse-values', async () => {
    const applied = await runReadme('kubectl apply --server-side -f charts/imageops/crds/');
    expect(applied.stdout).toContain('customresourcedefinition.apiextensions.k8s.io/imageservices.imageops.dev serverside-applied');
    expect((await runReadme('helm upgrade imageops')).stdout).toContain('REVISION: 2');
    // --reuse-values kept the install's --set values
    await expectReadmeValues();
  }, 60_000);

  it('uninstalls everything but the CRD, as the notes say', async () => {
    const notes = await helm('get', 'notes', 'imageops', '--namespace', RELEASE_NS);
    expect(notes.stdout).toContain('helm uninstall removes the operator and its RBAC but keeps the CRD');
    expect(notes.stdout).toContain('kubectl delete crd imageservices.imageops.dev');

    expect((await runReadme('helm uninstall imageops')).stdout).toContain('release "imageops" uninstalled');

    const left = await kubectl('get', 'deployment,serviceaccount,service,poddisruptionbudget,role,rolebinding', '-n', RELEASE_NS, '-l', 'app.kubernetes.io/instance=imageops', '-o', 'name');
    expect(left.stdout.trim()).toBe('');
    for (const kind of ['clusterrole', 'clusterrolebinding']) expect((await kubectl('get', kind, 'imageops', '--ignore-not-found', '-o', 'name')).stdout.trim()).toBe('');
    expect(await canI('watch', 'imageservices.imageops.dev', '--all-namespaces')).toBe('no');
    await waitFor('the operator pods gone', async () => ((await getJson<{ items: unknown[] }>('pods', '-n', RELEASE_NS)).items.length === 0 ? true : undefined), 60_000);
    expect((await kubectl('get', 'crd', 'imageservices.imageops.dev', '-o', 'name')).stdout.trim()).toBe('customresourcedefinition.apiextensions.k8s.io/imageservices.imageops.dev');
    expect((await helm('list', '--all-namespaces', '-q')).stdout.trim()).toBe('');
  }, 90_000);
});
