// The emulated API server held to kube-apiserver, side by side through kubectl: the CRD and the
// examples (every example accepted, every invalid spec refused with the field named), watch
// sequences, server-side apply conflicts, garbage collection, Nodes and Events.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { CONTROL_PLANES, type ControlPlaneKind, REPO_ROOT, type Sandbox, startSandbox } from '../sandbox/sandbox.ts';

const exec = promisify(execFile);
const EXAMPLES = fs
  .readdirSync(path.join(REPO_ROOT, 'examples'))
  .filter((f) => f.endsWith('.yaml'))
  .sort();
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
  {
    name: 'env-too-long',
    change: (o) => void (o.spec['env'] = [{ name: 'A', value: 'x'.repeat(5000), valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }]),
    field: /spec\.env\[0\]\.value: Too long.*some validation rules were not checked/s,
  },
  {
    name: 'env-both',
    change: (o) => void (o.spec['env'] = [{ name: 'A', value: 'x', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }]),
    field: /spec\.env\[0\]\.valueFrom: Invalid value: "object": set value or valueFrom, not both/,
  },
  // CEL's quantity library, on an int-or-string written as a string and as an integer
  {
    name: 'cpu-above-limit',
    change: (o) => void (o.spec['resources'] = { requests: { cpu: '2' }, limits: { cpu: 1 } }),
    field: /spec\.resources\.requests\.cpu: Invalid value: "object": requests\.cpu must not exceed limits\.cpu/,
  },
  {
    name: 'memory-above-limit',
    change: (o) => void (o.spec['resources'] = { requests: { memory: '1Gi' }, limits: { memory: '1G' } }),
    field: /spec\.resources\.requests\.memory: Invalid value: "object": requests\.memory must not exceed limits\.memory/,
  },
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
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name: 'thumbs.1', namespace: NS },
        involvedObject: { apiVersion: 'imageops.dev/v1alpha1', kind: 'ImageService', name: 'thumbs', namespace: NS },
        reason: 'Initialized',
        message: 'hello',
        type: 'Normal',
        count: 1,
        firstTimestamp: now,
        lastTimestamp: now,
        source: { component: 'imageops' },
        reportingComponent: 'imageops',
        reportingInstance: 'imageops-1',
      });
      const e = await sb.client.request('GET', `/apis/events.k8s.io/v1/namespaces/${NS}/events/thumbs.1`);
      const paths = (o: Record<string, unknown>, at = ''): string[] =>
        Object.entries(o).flatMap(([k, v]) =>
          v !== null && typeof v === 'object' && !Array.isArray(v) && k !== 'managedFields' ? paths(v as Record<string, unknown>, `${at}${k}.`) : [`${at}${k}${v === null ? '=null' : ''}`],
        );
      shapes.set(
        kind,
        paths(e)
          .filter((p) => !p.startsWith('metadata.managedFields'))
          .sort(),
      );
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
      expect(tables.get('real')?.split('\n')[0]).toMatch(
        wide.length ? /^NAME\s+READY\s+REASON\s+PHASE\s+WEIGHT\s+PRIMARY\s+CANARY\s+AGE\s+MESSAGE$/ : /^NAME\s+READY\s+REASON\s+PHASE\s+WEIGHT\s+PRIMARY\s+CANARY\s+AGE$/,
      );
      expect(tables.get('real')).toMatch(new RegExp(`^${name}\\s+False\\s+InvalidSpec\\s`, 'm'));
    }
  });

  it('prints the same Deployment and ReplicaSet tables on both under -o wide', async () => {
    const labels = { app: 'wide' };
    const deployment = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'wide', labels },
      spec: {
        replicas: 0,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            containers: [
              { name: 'web', image: 'example/web:1' },
              { name: 'sidecar', image: 'example/sidecar:2' },
            ],
          },
        },
      },
    };
    const file = path.join(dir, 'wide.yaml');
    fs.writeFileSync(file, stringify(deployment));
    const tables = new Map<ControlPlaneKind, string>();
    for (const [kind, sb] of sandboxes) {
      expect((await kubectl(sb, 'apply', '-n', NS, '-f', file)).code, kind).toBe(0);
      // each controller writes the ReplicaSet and the status in its own time: wait (bounded) for both
      let table = '';
      for (let i = 0; i < 100; i++) {
        table = (await kubectl(sb, 'get', 'deployments,replicasets', '-n', NS, '-l', 'app=wide', '-o', 'wide')).stdout;
        if (/^replicaset/m.test(table) && /^deployment\S+\s+0\/0\s+0\s+0\s/m.test(table)) break;
        await new Promise((res) => setTimeout(res, 100));
      }
      // ages differ, and each names the ReplicaSet by its own hash of the template (so widths differ)
      const cells = table
        .replace(/\b\d+s\b/g, 'AGE')
        .replace(/wide-[a-z0-9]+\b/g, 'wide-HASH')
        .replace(/pod-template-hash=[a-z0-9]+/g, 'pod-template-hash=HASH');
      tables.set(
        kind,
        cells
          .split('\n')
          .map((line) =>
            line
              .trim()
              .split(/\s{2,}/)
              .join(' | '),
          )
          .join('\n'),
      );
    }
    expect(tables.get('real')).toContain('deployment.apps/wide | 0/0 | 0 | 0 | AGE | web,sidecar | example/web:1,example/sidecar:2 | app=wide\n');
    expect(tables.get('emulated')).toBe(tables.get('real'));
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
  /** A watch through `kubectl get --raw` while `during` runs: its events as "TYPE name". */
  async function watched(sb: Sandbox, query: string, during: () => Promise<void> = async () => {}): Promise<string[]> {
    const stream = kubectl(sb, 'get', '--raw', `/api/v1/namespaces/${NS}/configmaps?watch=1&${query}`);
    await new Promise((r) => setTimeout(r, 500));
    await during();
    const { stdout } = await stream;
    return stdout
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => {
        const e = JSON.parse(l) as { type: string; object: { kind?: string; code?: number; reason?: string; metadata?: { name?: string; annotations?: Record<string, string> } } };
        if (e.type === 'ERROR') return `ERROR ${e.object.code} ${e.object.reason}`;
        if (e.type === 'BOOKMARK') return `BOOKMARK ${e.object.kind}${e.object.metadata?.annotations?.['k8s.io/initial-events-end'] ? ' initial-events-end' : ''}`;
        return `${e.type} ${e.object.metadata?.name}`;
      });
  }

  const listRv = async (sb: Sandbox): Promise<string> => JSON.parse((await kubectl(sb, 'get', '--raw', `/api/v1/namespaces/${NS}/configmaps`)).stdout).metadata.resourceVersion as string;

  it('sends the same watch sequence on both: changes in order, then a bookmark before the deadline', async () => {
    const sequences = new Map<ControlPlaneKind, string[]>();
    for (const [kind, sb] of sandboxes) {
      const rv = await listRv(sb);
      sequences.set(
        kind,
        await watched(sb, `resourceVersion=${rv}&allowWatchBookmarks=true&timeoutSeconds=4`, async () => {
          for (const args of [
            ['create', 'configmap', 'w', '--from-literal=x=1'],
            ['patch', 'configmap', 'w', '-p', '{"data":{"x":"2"}}'],
            ['delete', 'configmap', 'w'],
          ]) {
            expect((await kubectl(sb, ...args, '-n', NS)).code, kind).toBe(0);
          }
        }),
      );
    }
    // kube-apiserver may add a periodic bookmark; the one before the deadline both must send.
    const changes = (kind: ControlPlaneKind) => (sequences.get(kind) ?? []).filter((e) => !e.startsWith('BOOKMARK'));
    expect(changes('emulated')).toEqual(['ADDED w', 'MODIFIED w', 'DELETED w']);
    expect(changes('real')).toEqual(changes('emulated'));
    for (const kind of CONTROL_PLANES) expect(sequences.get(kind)?.at(-1), kind).toBe('BOOKMARK ConfigMap');
  });

  it('streams the initial state, then the initial-events-end bookmark, on both', async () => {
    const sequences = new Map<ControlPlaneKind, string[]>();
    for (const [kind, sb] of sandboxes) {
      expect((await kubectl(sb, 'create', 'configmap', 'initial', '-n', NS)).code, kind).toBe(0);
      // kube-controller-manager publishes kube-root-ca.crt in every namespace; the emulated plane has no CA to publish
      const events = await watched(sb, 'sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan&timeoutSeconds=1');
      sequences.set(
        kind,
        events.filter((e) => e !== 'ADDED kube-root-ca.crt'),
      );
    }
    expect(sequences.get('emulated')).toEqual(['ADDED initial', 'BOOKMARK ConfigMap initial-events-end']);
    expect(sequences.get('real')).toEqual(sequences.get('emulated'));
  });

  it('after a compaction: the emulator ends an old watch with 410, kube-apiserver serves it from its watch cache', async () => {
    const sequences = new Map<ControlPlaneKind, string[]>();
    for (const [kind, sb] of sandboxes) {
      const rv = await listRv(sb);
      expect((await kubectl(sb, 'create', 'configmap', 'compacted', '-n', NS)).code, kind).toBe(0);
      if (sb.emulator) sb.emulator.faults.compact();
      else await sb.real?.compact();
      sequences.set(kind, await watched(sb, `resourceVersion=${rv}&timeoutSeconds=2`));
    }
    // A listed difference (docs/sandbox.md): the emulator's compaction is its watch window, so
    // clients meet the relist path sooner than on a cluster, never later.
    expect(sequences.get('emulated')).toEqual(['ERROR 410 Expired']);
    expect(sequences.get('real')).toEqual(['ADDED compacted']);
  });

  it('refuses a conflicting server-side apply with the same message on both, and takes it with --force-conflicts', async () => {
    const file = (value: string) => {
      const f = path.join(dir, `ssa-${value}.yaml`);
      fs.writeFileSync(f, stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ssa', namespace: NS }, data: { a: value, b: value } }));
      return f;
    };
    const outcomes = new Map<ControlPlaneKind, string[]>();
    for (const [kind, sb] of sandboxes) {
      const steps: string[] = [];
      const run = async (...args: string[]) => {
        const r = await kubectl(sb, ...args);
        steps.push(`${r.code} ${r.stdout.trim()} ${r.stderr.split('\n')[0]}`);
      };
      await run('create', 'configmap', 'ssa', '-n', NS, '--from-literal=b=0');
      await run('apply', '--server-side', '--field-manager=alice', '--force-conflicts', '-f', file('1'));
      await run('apply', '--server-side', '--field-manager=bob', '-f', file('2'));
      await run('patch', 'configmap', 'ssa', '-n', NS, '-p', '{"data":{"c":"3"}}');
      await run('apply', '--server-side', '--field-manager=bob', '--force-conflicts', '-f', file('2'));
      // kube-apiserver also keeps kubectl-create, for owning the data map itself: a listed difference
      await run('get', 'configmap', 'ssa', '-n', NS, '--show-managed-fields', '-o', 'jsonpath={.metadata.managedFields[0].manager} {.metadata.managedFields[0].operation} {.data}');
      outcomes.set(kind, steps);
    }
    expect(outcomes.get('real')?.[2]).toMatch(/^1 {2}error: Apply failed with 2 conflicts: conflicts with "alice":$/);
    expect(outcomes.get('emulated')).toEqual(outcomes.get('real'));
  });

  it('collects dependents as kube-apiserver does: background, orphan and foreground', async () => {
    const outcomes = new Map<ControlPlaneKind, string[]>();
    for (const [kind, sb] of sandboxes) {
      const seen: string[] = [];
      for (const policy of ['background', 'orphan', 'foreground']) {
        const owner = (await sb.client.request('POST', `/api/v1/namespaces/${NS}/configmaps`, { metadata: { name: `owner-${policy}` } })) as { metadata: { uid: string } };
        await sb.client.request('POST', `/api/v1/namespaces/${NS}/configmaps`, {
          metadata: { name: `child-${policy}`, ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: `owner-${policy}`, uid: owner.metadata.uid, blockOwnerDeletion: true }] },
        });
        expect((await kubectl(sb, 'delete', 'configmap', `owner-${policy}`, '-n', NS, `--cascade=${policy}`, '--wait=true', '--timeout=60s')).code, kind).toBe(0);
        // the garbage collector works on its own time: wait (bounded) for the child to settle
        const state = async () => {
          const r = await kubectl(sb, 'get', 'configmap', `child-${policy}`, '-n', NS, '--ignore-not-found', '-o', 'jsonpath={.metadata.name} {.metadata.ownerReferences[*].name}');
          return r.stdout.trim() === '' ? 'deleted' : `kept, owners: ${r.stdout.trim().split(' ').slice(1).join(',') || 'none'}`;
        };
        let settled = await state();
        for (let i = 0; i < 100 && settled !== (policy === 'orphan' ? 'kept, owners: none' : 'deleted'); i++) {
          await new Promise((res) => setTimeout(res, 100));
          settled = await state();
        }
        seen.push(`${policy}: child ${settled}`);
      }
      outcomes.set(kind, seen);
    }
    expect(outcomes.get('real')).toEqual(['background: child deleted', 'orphan: child kept, owners: none', 'foreground: child deleted']);
    expect(outcomes.get('emulated')).toEqual(outcomes.get('real'));
  });

  it('serves Nodes with the same fields on both', async () => {
    const shapes = new Map<ControlPlaneKind, string[]>();
    for (const [kind, sb] of sandboxes) {
      const nodes = JSON.parse((await kubectl(sb, 'get', 'nodes', '-o', 'json')).stdout) as { items: Record<string, unknown>[] };
      expect(nodes.items.length, kind).toBeGreaterThan(0);
      const paths = (o: unknown, at = ''): string[] =>
        o !== null && typeof o === 'object' && !Array.isArray(o)
          ? Object.entries(o).flatMap(([k, v]) => (at === 'metadata.' && (k === 'managedFields' || k === 'labels' || k === 'annotations') ? [`${at}${k}`] : paths(v, `${at}${k}.`)))
          : Array.isArray(o)
            ? [...new Set(o.flatMap((v) => paths(v, `${at}[].`)))]
            : [at.slice(0, -1)];
      // kube-controller-manager's TTL controller annotates Nodes; the emulated plane runs none (docs/sandbox.md)
      shapes.set(kind, [...new Set(paths(nodes.items[0]))].filter((p) => p !== 'metadata.annotations').sort());
      const ready = (nodes.items[0]!['status'] as { conditions?: { type: string; status: string }[] }).conditions?.find((c) => c.type === 'Ready');
      expect(ready?.status, kind).toBe('True');
    }
    expect(shapes.get('emulated')).toEqual(shapes.get('real'));
  });
});
