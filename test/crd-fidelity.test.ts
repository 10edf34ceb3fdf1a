// The CRD and the examples as a user meets them, through kubectl with server-side apply, on both
// control planes side by side: every example is accepted, every invalid spec is refused with the
// field named, and the emulated API server answers what kube-apiserver answers.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONTROL_PLANES, type ControlPlaneKind, REPO_ROOT, type Sandbox, startSandbox } from '../sandbox/sandbox.ts';

const exec = promisify(execFile);
const EXAMPLES = fs.readdirSync(path.join(REPO_ROOT, 'examples')).filter((f) => f.endsWith('.yaml')).sort();
const NS = 'fidelity';

type Result = { code: number; stdout: string; stderr: string };

const minimal = () => parse(fs.readFileSync(path.join(REPO_ROOT, 'examples', 'minimal.yaml'), 'utf8')) as { metadata: Record<string, unknown>; spec: Record<string, unknown> };

/** Specs the CRD must refuse, each with the field its message names. */
const INVALID: { name: string; change: (o: ReturnType<typeof minimal>) => void; field: RegExp }[] = [
  { name: 'a-name-longer-than-the-children-allow-for-its-services-names-x', change: () => {}, field: /metadata\.name: Invalid value: .*at most 55/ },
  { name: 'replicas', change: (o) => void (o.spec['replicas'] = 5000), field: /spec\.replicas: Invalid value: 5000/ },
  { name: 'two-sources', change: (o) => void (o.spec['source'] = { file: { claimName: 'a' }, s3: { bucket: 'b' } }), field: /spec\.source: Invalid value: "object": .*exactly one of file, s3, http/ },
  { name: 'weights', change: (o) => void (o.spec['canary'] = { stepWeights: [50, 10] }), field: /spec\.canary\.stepWeights: Invalid value/ },
  // issue 22: a wildcard host would take others' traffic
  { name: 'wildcard-host', change: (o) => void (o.spec['traffic'] = { hosts: ['*.example.com'] }), field: /spec\.traffic\.hosts\[0\]: Invalid value: "\*\.example\.com"/ },
  // a size bound broken: kube-apiserver runs no CEL rule then, and says so
  { name: 'env-too-long', change: (o) => void (o.spec['env'] = [{ name: 'A', value: 'x'.repeat(5000), valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }]), field: /spec\.env\[0\]\.value: Too long.*some validation rules were not checked/s },
  { name: 'env-both', change: (o) => void (o.spec['env'] = [{ name: 'A', value: 'x', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }]), field: /spec\.env\[0\]\.valueFrom: Invalid value: "object": set value or valueFrom, not both/ },
  // CEL's quantity library, on an int-or-string written as a string and as an integer
  { name: 'cpu-above-limit', change: (o) => void (o.spec['resources'] = { requests: { cpu: '2' }, limits: { cpu: 1 } }), field: /spec\.resources\.requests\.cpu: Invalid value: "object": requests\.cpu must not exceed limits\.cpu/ },
  { name: 'memory-above-limit', change: (o) => void (o.spec['resources'] = { requests: { memory: '1Gi' }, limits: { memory: '1G' } }), field: /spec\.resources\.requests\.memory: Invalid value: "object": requests\.memory must not exceed limits\.memory/ },
  // CEL's duration(), and a value beyond Go's time.Duration
  { name: 'zero-interval', change: (o) => void (o.spec['canary'] = { interval: '0s' }), field: /spec\.canary\.interval: Invalid value: "string": must be longer than zero and at most 24h/ },
  { name: 'huge-timeout', change: (o) => void (o.spec['traffic'] = { timeout: '3000000h' }), field: /spec\.traffic\.timeout: Invalid value: "string": must be longer than zero and at most 24h/ },
];

describe('the CRD and examples through kubectl on both control planes', () => {
  const sandboxes = new Map<ControlPlaneKind, Sandbox>();
  const answers = new Map<string, Map<ControlPlaneKind, Result>>();
  let dir: string;

  async function kubectl(sb: Sandbox, ...args: string[]): Promise<Result> {
    try {
      const { stdout, stderr } = await exec('kubectl', ['--kubeconfig', sb.kubeconfigPath, ...args]);
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      return { code: e.code ?? 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
    }
  }

  async function applyEverywhere(key: string, file: string): Promise<Map<ControlPlaneKind, Result>> {
    const out = new Map<ControlPlaneKind, Result>();
    for (const [kind, sb] of sandboxes) out.set(kind, await kubectl(sb, 'apply', '--server-side', '-n', NS, '-f', file));
    answers.set(key, out);
    return out;
  }

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'imageops-fidelity-'));
    await Promise.all(
      CONTROL_PLANES.map(async (kind) => {
        sandboxes.set(kind, await startSandbox({ stateDir: path.join(dir, kind), prometheus: 'off', controlPlane: kind }));
      }),
    );
    for (const sb of sandboxes.values()) expect((await kubectl(sb, 'create', 'namespace', NS)).code).toBe(0);
  }, 120_000);

  afterAll(async () => {
    await Promise.all([...sandboxes.values()].map((sb) => sb.stop()));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('applies the generated CRD with server-side apply, as `kubectl apply --server-side -f crds/` would', async () => {
    for (const [kind, sb] of sandboxes) {
      const r = await kubectl(sb, 'apply', '--server-side', '-f', path.join(REPO_ROOT, 'crds'));
      expect(r.stderr, kind).toBe('');
      expect(r.stdout, kind).toContain('customresourcedefinition.apiextensions.k8s.io/imageservices.imageops.dev serverside-applied');
    }
  });

  it.each(EXAMPLES)('accepts examples/%s', async (example) => {
    for (const [kind, r] of await applyEverywhere(example, path.join(REPO_ROOT, 'examples', example))) {
      expect(r.stderr, `${kind}: ${r.stderr}`).toBe('');
      expect(r.stdout, kind).toMatch(/imageservice\.imageops\.dev\/\S+ serverside-applied/);
    }
  });

  it.each(INVALID)('refuses $name, naming the field, on both', async ({ name, change, field }) => {
    const object = minimal();
    object.metadata['name'] = name.length > 20 ? name : `bad-${name}`;
    change(object);
    const file = path.join(dir, `${name}.yaml`);
    fs.writeFileSync(file, stringify(object));
    for (const [kind, r] of await applyEverywhere(`invalid ${name}`, file)) {
      expect(r.code, kind).not.toBe(0);
      expect(r.stderr, kind).toMatch(field);
    }
  });

  it.each([
    ['watch=True', 'watch'],
    ['watch=', 'watch'],
    ['watch=0', 'list'],
    ['watch=false', 'list'],
  ])('reads %s as a %s, on both', async (query, expected) => {
    for (const [kind, sb] of sandboxes) {
      // a watch with nothing to say (kube-public holds no Secret) ends after timeoutSeconds with an empty body; a list is a SecretList
      const answer = await sb.client.request('GET', `/api/v1/namespaces/kube-public/secrets?${query}&timeoutSeconds=1`);
      expect(answer['kind'] === 'SecretList' ? 'list' : 'watch', kind).toBe(expected);
    }
  });

  it('serves a core/v1 Event through events.k8s.io/v1 with the same fields on both', async () => {
    const shapes = new Map<ControlPlaneKind, string[]>();
    for (const [kind, sb] of sandboxes) {
      const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
      await sb.client.request('POST', `/api/v1/namespaces/${NS}/events`, {
        apiVersion: 'v1', kind: 'Event', metadata: { name: 'thumbs.1', namespace: NS },
        involvedObject: { apiVersion: 'imageops.dev/v1alpha1', kind: 'ImageService', name: 'thumbs', namespace: NS },
        reason: 'Initialized', message: 'hello', type: 'Normal', count: 1, firstTimestamp: now, lastTimestamp: now,
        source: { component: 'imageops' }, reportingComponent: 'imageops', reportingInstance: 'imageops-1',
      });
      const e = await sb.client.request('GET', `/apis/events.k8s.io/v1/namespaces/${NS}/events/thumbs.1`);
      const paths = (o: Record<string, unknown>, at = ''): string[] =>
        Object.entries(o).flatMap(([k, v]) => (v !== null && typeof v === 'object' && !Array.isArray(v) && k !== 'managedFields' ? paths(v as Record<string, unknown>, `${at}${k}.`) : [`${at}${k}${v === null ? '=null' : ''}`]));
      shapes.set(kind, paths(e).filter((p) => !p.startsWith('metadata.managedFields')).sort());
    }
    expect(shapes.get('emulated')).toEqual(shapes.get('real'));
  });

  it('prints the same table on both: Ready and Reason, and the Ready message under -o wide', async () => {
    const ready = { type: 'Ready', status: 'False', reason: 'InvalidSpec', message: 'spec.canary.interval: must be longer than zero and at most 24h', lastTransitionTime: '2026-01-01T00:00:00Z' };
    const name = String(minimal().metadata['name']);
    for (const sb of sandboxes.values()) {
      const r = await kubectl(sb, 'patch', 'imgsvc', name, '-n', NS, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { conditions: [ready] } }));
      expect(r.stderr).toBe('');
    }
    for (const wide of [[], ['-o', 'wide']]) {
      const tables = new Map<ControlPlaneKind, string>();
      // ages differ by the moment each server created the object
      for (const [kind, sb] of sandboxes) tables.set(kind, (await kubectl(sb, 'get', 'imgsvc', '-n', NS, ...wide)).stdout.replace(/\b\d+s\b/g, 'AGE'));
      expect(tables.get('emulated')).toBe(tables.get('real'));
      expect(tables.get('real')?.split('\n')[0]).toMatch(wide.length ? /^NAME\s+READY\s+REASON\s+PHASE\s+WEIGHT\s+PRIMARY\s+CANARY\s+AGE\s+MESSAGE$/ : /^NAME\s+READY\s+REASON\s+PHASE\s+WEIGHT\s+PRIMARY\s+CANARY\s+AGE$/);
      expect(tables.get('real')).toMatch(new RegExp(`^${name}\\s+False\\s+InvalidSpec\\s`, 'm'));
    }
  });

  it('gives the same answers on the emulated control plane as on kube-apiserver', () => {
    const differences: string[] = [];
    for (const [key, byKind] of answers) {
      const [emulated, real] = [byKind.get('emulated'), byKind.get('real')];
      // the listed causes in the order each server gives them, without the ones a newer server adds
      const norm = (r: Result | undefined) => `${r?.code === 0 ? 'ok' : 'refused'} ${r?.stdout.trim() ?? ''} ${r?.stderr.trim() ?? ''}`;
      if (norm(emulated) !== norm(real)) differences.push(`${key}:\n  emulated: ${norm(emulated)}\n  real:     ${norm(real)}`);
    }
    expect(answers.size).toBe(EXAMPLES.length + INVALID.length);
    expect(differences).toEqual([]);
  });
});
