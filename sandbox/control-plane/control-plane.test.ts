// The real control plane's start and its failures, each said in one line: no Go, a port taken.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GATEWAY_API_CRDS_DIR } from '../apiserver/server.ts';
import { Daemon, DaemonError } from '../daemon.ts';
import { buildControlPlane } from './control-plane.ts';
import { readCrds } from './crds.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

describe('the control plane build', () => {
  it('fails with one line naming Go when Go is not on PATH', async () => {
    const err = await buildControlPlane({ PATH: '/usr/bin:/bin', HOME: os.tmpdir() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/^control-plane build: needs Go/);
    expect((err as Error).message).not.toContain('\n');
  });

  it('finds the build the global setup made', async () => {
    const build = await buildControlPlane();
    expect(fs.existsSync(build.bin('kube-apiserver'))).toBe(true);
    expect(fs.existsSync(build.crd('istio'))).toBe(true);
  });

  it("collects every CRD of the Gateway API's standard channel as its own document", async () => {
    const build = await buildControlPlane();
    const names = readCrds([build.crd('gateway-api')]).map((c) => (c['metadata'] as { name: string }).name);
    expect(names).toEqual(expect.arrayContaining(['gateways.gateway.networking.k8s.io', 'httproutes.gateway.networking.k8s.io', 'referencegrants.gateway.networking.k8s.io']));
  });

  it("the emulated plane's HTTPRoute subset holds upstream's bounds, defaults and CEL rules on every field it declares", async () => {
    const build = await buildControlPlane();
    const v1 = (crd: Record<string, unknown> | undefined) =>
      (crd?.['spec'] as { versions: { name: string; schema: { openAPIV3Schema: Schema } }[] } | undefined)?.versions.find((v) => v.name === 'v1')?.schema.openAPIV3Schema;
    const named = (crds: Record<string, unknown>[]) => crds.find((c) => (c['metadata'] as { name: string }).name === 'httproutes.gateway.networking.k8s.io');
    const subset = v1(named(readCrds([path.join(GATEWAY_API_CRDS_DIR, 'httproute.yaml')])));
    const upstream = v1(named(readCrds([build.crd('gateway-api')])));
    if (subset === undefined || upstream === undefined) throw new Error('no v1 HTTPRoute schema');
    const differences = schemaDifferences(subset, upstream, '');
    expect(differences).toEqual([]);
    // the walk reached the fields the operator writes
    expect(differences.length === 0 && JSON.stringify(subset)).toContain('requestMirror');
  });
});

interface Schema {
  properties?: Record<string, Schema>;
  items?: Schema;
  required?: string[];
  'x-kubernetes-validations'?: { rule: string; message?: string }[];
  [key: string]: unknown;
}

const BOUNDS = ['type', 'format', 'enum', 'pattern', 'minLength', 'maxLength', 'minimum', 'maximum', 'maxItems', 'default'] as const;

/** Where a field the subset declares is bounded otherwise than upstream's, or carries a rule upstream lacks. */
function schemaDifferences(subset: Schema, upstream: Schema | undefined, at: string): string[] {
  if (upstream === undefined) return [`${at || '.'}: not in upstream`];
  const out: string[] = [];
  for (const key of BOUNDS) {
    if (JSON.stringify(subset[key]) !== JSON.stringify(upstream[key])) out.push(`${at}: ${key} ${JSON.stringify(subset[key])}, upstream ${JSON.stringify(upstream[key])}`);
  }
  if (subset.properties !== undefined && JSON.stringify([...(subset.required ?? [])].sort()) !== JSON.stringify([...(upstream.required ?? [])].sort())) {
    out.push(`${at}: required ${JSON.stringify(subset.required)}, upstream ${JSON.stringify(upstream.required)}`);
  }
  const squash = (rule: string) => rule.replace(/\s+/g, ' ').trim();
  const rules = new Set((upstream['x-kubernetes-validations'] ?? []).map((v) => squash(v.rule)));
  for (const v of subset['x-kubernetes-validations'] ?? []) if (!rules.has(squash(v.rule))) out.push(`${at}: rule ${v.rule} not upstream's`);
  for (const [name, child] of Object.entries(subset.properties ?? {})) out.push(...schemaDifferences(child, upstream.properties?.[name], `${at}.${name}`));
  if (subset.items !== undefined) out.push(...schemaDifferences(subset.items, upstream.items, `${at}[]`));
  return out;
}

describe('a control-plane daemon that cannot start', () => {
  it('says which one and why in one line: etcd on a port already taken', async () => {
    const build = await buildControlPlane();
    const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'imageops-daemon-'));
    dirs.push(stateDir);
    const taken = net.createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    const port = (taken.address() as net.AddressInfo).port;
    try {
      const url = `http://127.0.0.1:${port}`;
      const err = await Daemon.start({
        name: 'etcd',
        bin: build.bin('etcd'),
        args: [`--data-dir=${path.join(stateDir, 'etcd')}`, `--listen-client-urls=${url}`, `--advertise-client-urls=${url}`, '--listen-peer-urls=http://127.0.0.1:0'],
        stateDir,
        logFile: path.join(stateDir, 'etcd.log'),
        ready: async () => (await fetch(`${url}/health`)).ok,
        readyTimeoutMs: 20_000,
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DaemonError);
      const message = (err as Error).message;
      expect(message).toMatch(/^etcd did not start: exited with 1: .*address already in use/);
      expect(message).not.toContain('\n');
      expect(fs.readdirSync(path.join(stateDir, 'pids'))).toEqual([]);
    } finally {
      taken.close();
    }
  });
});
