import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiServer, startApiServer } from '../../sandbox/apiserver/server.ts';

// The sandbox API server against the real kubectl: what a user types must work as on a cluster.
// kubectl is required: a machine without it fails these tests (set KUBECTL to its path).

const repo = join(import.meta.dirname, '..', '..');

function findKubectl(): string {
  const fromEnv = process.env['KUBECTL'];
  if (fromEnv) return fromEnv;
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    const candidate = join(dir, 'kubectl');
    if (dir && existsSync(candidate)) return candidate;
  }
  throw new Error('kubectl not found on PATH (set KUBECTL): the kubectl compatibility tests need the real kubectl');
}

let server: ApiServer;
let dir: string;
let kubectlPath: string;
let n = 0;

type Result = { code: number; stdout: string; stderr: string };

function kubectl(...args: string[]): Promise<Result> {
  return new Promise((resolve) => {
    execFile(kubectlPath, [`--kubeconfig=${join(dir, 'kubeconfig')}`, `--cache-dir=${join(dir, 'cache')}`, ...args], { timeout: 20_000, env: { ...process.env, HOME: dir } }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

async function ok(...args: string[]): Promise<string> {
  const r = await kubectl(...args);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

async function file(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

async function newNamespace(): Promise<string> {
  const ns = `k${++n}`;
  await ok('apply', '-f', await file(`${ns}.yaml`, `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${ns}\n`));
  return ns;
}

const deploymentYaml = (name: string, replicas: number) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
  labels: {app: ${name}}
spec:
  replicas: ${replicas}
  selector: {matchLabels: {app: ${name}}}
  template:
    metadata: {labels: {app: ${name}}}
    spec:
      containers:
      - name: web
        image: imageops/image-service:1.0.0
        ports: [{containerPort: 8080}]
        env: [{name: A, value: "1"}]
`;

/** An ImageService manifest; `spec` holds the spec's lines after its image. */
const imageServiceYaml = (name: string, spec: string) => `apiVersion: imageops.dev/v1alpha1
kind: ImageService
metadata:
  name: ${name}
spec:
  image: imageops/image-service:1.0.0
${spec}
`;

beforeAll(async () => {
  kubectlPath = findKubectl();
  dir = await mkdtemp(join(tmpdir(), 'kubectl-compat-'));
  server = await startApiServer();
  await server.writeKubeconfig(join(dir, 'kubeconfig'));
});

afterAll(async () => {
  await server?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('kubectl against the sandbox API server', () => {
  it('lists the served resources, with the CRDs of crds/ and Istio', async () => {
    const out = await ok('api-resources');
    expect(out).toMatch(/^deployments\s+deploy\s+apps\/v1\s+true\s+Deployment$/m);
    expect(out).toMatch(/^imageservices\s+imgsvc\s+imageops\.dev\/v1alpha1\s+true\s+ImageService$/m);
    expect(out).toMatch(/^virtualservices\s+vs\s+networking\.istio\.io\/v1\s+true\s+VirtualService$/m);
  });

  it('serves a CRD created with kubectl at once, through a warm discovery cache', async () => {
    await ok('get', 'deployments');
    await ok(
      'apply',
      '-f',
      await file(
        'gizmo-crd.yaml',
        `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: gizmos.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: gizmos, singular: gizmo, kind: Gizmo, shortNames: [gz]}
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
`,
      ),
    );
    expect(await ok('apply', '-f', await file('gizmo.yaml', 'apiVersion: example.com/v1\nkind: Gizmo\nmetadata: {name: g1}\nspec: {size: 1}\n'))).toContain('gizmo.example.com/g1 created');
    expect(await ok('get', 'gz', '-o', 'name')).toBe('gizmo.example.com/g1\n');
  });

  it('applies examples/ client-side and server-side, idempotently', async () => {
    const ns = await newNamespace();
    const examples = join(repo, 'examples');
    const first = await ok('apply', '-n', ns, '-f', examples);
    expect(first).toMatch(/imageservice\.imageops\.dev\/\S+ created/);
    const again = await ok('apply', '-n', ns, '-f', examples);
    // Secrets written with stringData read "configured" on every apply, as on a real cluster
    // (kubernetes/kubernetes#87736); everything else is unchanged.
    expect(again.split('\n').filter((l) => /created|configured/.test(l) && !l.startsWith('secret/'))).toEqual([]);
    expect(again).toMatch(/imageservice\.imageops\.dev\/\S+ unchanged/);
    const ssaNs = await newNamespace();
    const ssa = await ok('apply', '--server-side', '-n', ssaNs, '-f', examples);
    expect(ssa).toMatch(/imageservice\.imageops\.dev\/\S+ serverside-applied/);
    const table = await ok('get', 'imgsvc', '-n', ssaNs);
    expect(table.split('\n')[0]).toMatch(/^NAME\s+READY\s+REASON\s+PHASE\s+WEIGHT\s+PRIMARY\s+CANARY\s+AGE$/);
  });

  it('applies a Deployment (client-side, then server-side) and prints it as a table, YAML and JSONPath', async () => {
    const ns = await newNamespace();
    const path = await file(`${ns}-d.yaml`, deploymentYaml('web', 2));
    expect(await ok('apply', '-n', ns, '-f', path)).toContain('deployment.apps/web created');
    await writeFile(path, deploymentYaml('web', 3));
    expect(await ok('apply', '-n', ns, '-f', path)).toContain('deployment.apps/web configured');
    await writeFile(path, deploymentYaml('web', 4));
    expect(await ok('apply', '--server-side', '--force-conflicts', '-n', ns, '-f', path)).toContain('deployment.apps/web serverside-applied');
    const table = await ok('get', 'deploy', '-n', ns);
    expect(table).toMatch(/^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE\nweb\s+0\/4\s+0\s+0\s+\d+s\n$/);
    const yaml = await ok('get', 'deploy', 'web', '-n', ns, '-o', 'yaml');
    expect(yaml).toContain('progressDeadlineSeconds: 600');
    expect(yaml).toContain('imagePullPolicy: IfNotPresent');
    expect(yaml).toMatch(/generation: 3/);
    expect(await ok('get', 'deploy', 'web', '-n', ns, '-o', 'jsonpath={.spec.replicas}/{.spec.template.spec.containers[0].ports[0].protocol}')).toBe('4/TCP');
  });

  it('refuses a Deployment with a misspelt field, as kubectl validates on the server (Strict)', async () => {
    const ns = await newNamespace();
    const typo = deploymentYaml('typo', 1).replace('  replicas: 1', '  replica: 1');
    const r = await kubectl('apply', '-n', ns, '-f', await file(`${ns}-typo.yaml`, typo));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('unknown field "spec.replica"');
    expect((await kubectl('apply', '--validate=false', '-n', ns, '-f', await file(`${ns}-typo.yaml`, typo))).code).toBe(0);
    expect(await ok('get', 'deploy', 'typo', '-n', ns, '-o', 'jsonpath={.spec.replicas}')).toBe('1');
  });

  it('patches, labels, annotates and scales', async () => {
    const ns = await newNamespace();
    await ok('apply', '-n', ns, '-f', await file(`${ns}-d.yaml`, deploymentYaml('p', 1)));
    await ok('patch', 'deploy', 'p', '-n', ns, '-p', '{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"imageops/image-service:1.1.0"}]}}}}');
    await ok('patch', 'deploy', 'p', '-n', ns, '--type=json', '-p', '[{"op":"replace","path":"/spec/revisionHistoryLimit","value":3}]');
    await ok('label', 'deploy', 'p', '-n', ns, 'tier=front');
    await ok('annotate', 'deploy', 'p', '-n', ns, 'owner=team');
    await ok('scale', 'deploy', 'p', '-n', ns, '--replicas=2');
    const out = await ok(
      'get',
      'deploy',
      'p',
      '-n',
      ns,
      '-o',
      'jsonpath={.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].env[0].name} {.spec.revisionHistoryLimit} {.metadata.labels.tier} {.metadata.annotations.owner} {.spec.replicas}',
    );
    expect(out).toBe('imageops/image-service:1.1.0 A 3 front team 2');
  });

  it('refuses a replace with a stale resourceVersion', async () => {
    const ns = await newNamespace();
    await ok('apply', '-n', ns, '-f', await file(`${ns}-d.yaml`, deploymentYaml('r', 1)));
    const stale = await file(`${ns}-stale.yaml`, await ok('get', 'deploy', 'r', '-n', ns, '-o', 'yaml'));
    await ok('scale', 'deploy', 'r', '-n', ns, '--replicas=3');
    const r = await kubectl('replace', '-f', stale);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('Error from server (Conflict)');
    expect(r.stderr).toContain('the object has been modified; please apply your changes to the latest version and try again');
  });

  it('watches with get -w and waits with --for=jsonpath', async () => {
    const ns = await newNamespace();
    const watcher = spawn(kubectlPath, [`--kubeconfig=${join(dir, 'kubeconfig')}`, `--cache-dir=${join(dir, 'cache')}`, 'get', 'configmaps', '-n', ns, '-w'], { env: { ...process.env, HOME: dir } });
    let seen = '';
    watcher.stdout.on('data', (d: Buffer) => {
      seen += d.toString();
    });
    try {
      await new Promise((r) => setTimeout(r, 800));
      await ok('apply', '-n', ns, '-f', await file(`${ns}-cm.yaml`, 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: watched\ndata: {a: "1", b: "2"}\n'));
      const deadline = Date.now() + 10_000;
      while (!/watched\s+2\s+\d+s/.test(seen) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(seen).toMatch(/watched\s+2\s+\d+s/);
    } finally {
      watcher.kill();
    }
    await ok('apply', '-n', ns, '-f', await file(`${ns}-d.yaml`, deploymentYaml('w', 1)));
    const waiting = kubectl('wait', '-n', ns, '--for=jsonpath={.status.availableReplicas}=1', 'deploy/w', '--timeout=15s');
    await new Promise((r) => setTimeout(r, 300));
    await ok('patch', 'deploy', 'w', '-n', ns, '--subresource=status', '--type=merge', '-p', '{"status":{"availableReplicas":1}}');
    const r = await waiting;
    expect(r.stdout).toContain('deployment.apps/w condition met');
  });

  it('deletes owned objects with their owner (garbage collection)', async () => {
    const ns = await newNamespace();
    await ok('apply', '-n', ns, '-f', await file(`${ns}-d.yaml`, deploymentYaml('gc', 1)));
    const uid = await ok('get', 'deploy', 'gc', '-n', ns, '-o', 'jsonpath={.metadata.uid}');
    await ok(
      'apply',
      '-n',
      ns,
      '-f',
      await file(
        `${ns}-cm.yaml`,
        `apiVersion: v1
kind: ConfigMap
metadata:
  name: owned
  ownerReferences: [{apiVersion: apps/v1, kind: Deployment, name: gc, uid: ${uid}, controller: true, blockOwnerDeletion: true}]
`,
      ),
    );
    expect(await ok('delete', 'deploy', 'gc', '-n', ns, '--cascade=foreground')).toContain('deployment.apps "gc" deleted');
    const left = await kubectl('get', 'configmap', 'owned', '-n', ns);
    expect(left.stderr).toContain('configmaps "owned" not found');
  });

  it('creates namespaces, ConfigMaps and Secrets with the generator commands (protobuf bodies)', async () => {
    const ns = `gen${++n}`;
    expect(await ok('create', 'namespace', ns)).toContain(`namespace/${ns} created`);
    await ok('create', 'configmap', 'settings', '-n', ns, '--from-literal=mode=fast');
    await ok('create', 'secret', 'generic', 'token', '-n', ns, '--from-literal=key=s3cr3t');
    await ok('create', 'serviceaccount', 'bot', '-n', ns);
    expect(await ok('get', 'configmap', 'settings', '-n', ns, '-o', 'jsonpath={.data.mode}')).toBe('fast');
    expect(Buffer.from(await ok('get', 'secret', 'token', '-n', ns, '-o', 'jsonpath={.data.key}'), 'base64').toString()).toBe('s3cr3t');
    expect(await ok('get', 'serviceaccounts', '-n', ns, '-o', 'name')).toBe('serviceaccount/bot\nserviceaccount/default\n');
    const deploy = await kubectl('create', 'deployment', 'd', '--image=nginx', '-n', ns);
    expect(deploy.code).not.toBe(0);
    expect(deploy.stderr).toContain('send JSON or YAML (kubectl apply -f, kubectl create -f)');
  });

  it('reads pod logs through the log provider (kubectl logs)', async () => {
    const ns = await newNamespace();
    await ok(
      'apply',
      '-n',
      ns,
      '-f',
      await file(
        `${ns}-pod.yaml`,
        `apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  nodeName: sandbox
  containers: [{name: main, image: imageops/image-service:1.0.0}, {name: side, image: busybox}]
`,
      ),
    );
    server.setLogProvider(async (r) => `${r.namespace}/${r.pod}/${r.container} tail=${String(r.tailLines)}\n`);
    try {
      expect(await ok('logs', 'p', '-n', ns, '-c', 'side', '--tail=3')).toBe(`${ns}/p/side tail=3\n`);
      const defaulted = await kubectl('logs', 'p', '-n', ns);
      expect(defaulted.stdout).toBe(`${ns}/p/main tail=undefined\n`);
      expect(defaulted.stderr).toContain('Defaulted container "main" out of: main, side');
    } finally {
      server.setLogProvider(undefined);
    }
  });

  it('refuses an invalid ImageService, naming the field', async () => {
    const ns = await newNamespace();
    const path = await file(`${ns}-bad.yaml`, imageServiceYaml('bad', '  replicas: 5000\n  source: {file: {claimName: originals}}'));
    const r = await kubectl('apply', '-n', ns, '-f', path);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('The ImageService "bad" is invalid: spec.replicas: Invalid value: 5000: spec.replicas in body should be less than or equal to 1000');
    // The CRD's CEL rules hold too: exactly one source.
    const twoSources = await file(`${ns}-two.yaml`, imageServiceYaml('two', '  source: {file: {claimName: originals}, s3: {bucket: originals}}'));
    const cel = await kubectl('apply', '-n', ns, '-f', twoSources);
    expect(cel.code).not.toBe(0);
    expect(cel.stderr).toMatch(/The ImageService "two" is invalid: spec\.source: Invalid value: "object": .*exactly one of file, s3, http/);
  });

  it('prints Ready and its reason, and with -o wide the message saying why', async () => {
    const ns = await newNamespace();
    await ok('apply', '-n', ns, '-f', await file(`${ns}-thumbs.yaml`, imageServiceYaml('thumbs', '  source: {file: {claimName: originals}}')));
    // What the operator writes for a spec stored before the CRD could refuse it.
    const message = 'spec.canary.interval: must be longer than zero and at most 24h';
    const ready = { type: 'Ready', status: 'False', reason: 'InvalidSpec', message, lastTransitionTime: '2026-01-01T00:00:00Z' };
    await ok('patch', 'imgsvc', 'thumbs', '-n', ns, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { conditions: [ready] } }));
    const [header, row] = (await ok('get', 'imgsvc', 'thumbs', '-n', ns)).split('\n');
    expect(header).toMatch(/^NAME\s+READY\s+REASON\s+PHASE\s+WEIGHT\s+PRIMARY\s+CANARY\s+AGE$/);
    expect(row).toMatch(/^thumbs\s+False\s+InvalidSpec\s+/);
    expect(row).not.toContain('interval');
    const [wideHeader, wideRow] = (await ok('get', 'imgsvc', 'thumbs', '-n', ns, '-o', 'wide')).split('\n');
    expect(wideHeader).toMatch(/\sAGE\s+MESSAGE$/);
    expect(wideRow).toMatch(/^thumbs\s+False\s+InvalidSpec\s+.*\sspec\.canary\.interval: must be longer than zero and at most 24h$/);
  });

  it('refuses requests above limits and a zero interval at apply, naming each field', async () => {
    const ns = await newNamespace();
    const spec = (requests: string, interval: string) =>
      `  source: {file: {claimName: originals}}\n  resources: {requests: ${requests}, limits: {cpu: 1, memory: 1G}}\n  canary: {interval: ${interval}}`;
    const r = await kubectl('apply', '-n', ns, '-f', await file(`${ns}-greedy.yaml`, imageServiceYaml('greedy', spec('{cpu: "2", memory: 1Gi}', '0s'))));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('The ImageService "greedy" is invalid: ');
    expect(r.stderr).toContain('spec.resources.requests.cpu: Invalid value: "object": requests.cpu must not exceed limits.cpu');
    expect(r.stderr).toContain('spec.resources.requests.memory: Invalid value: "object": requests.memory must not exceed limits.memory');
    expect(r.stderr).toContain('spec.canary.interval: Invalid value: "string": must be longer than zero and at most 24h');
    // Within its limits and with a positive interval, the same object is accepted.
    const fixed = await file(`${ns}-fixed.yaml`, imageServiceYaml('greedy', spec('{cpu: 500m, memory: 512Mi}', '30s')));
    expect(await ok('apply', '-n', ns, '-f', fixed)).toContain('imageservice.imageops.dev/greedy created');
  });
});
