import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DiffStore } from '../operator/src/canary/diffs.ts';
import { loadConfig } from '../operator/src/config.ts';
import { resources } from '../operator/src/kube/client.ts';
import { EventRecorder } from '../operator/src/kube/events.ts';
import { startOperator } from '../operator/src/main.ts';
import { apiServer, clientFor, eventually, getOrUndefined, imageService, namespace, stopAll } from './operator.testkit.ts';

afterEach(stopAll);

const NODE = process.execPath;
const MAIN = join(import.meta.dirname, '..', 'operator', 'src', 'main.ts');

describe('the operator process', () => {
  it("serves /healthz, /readyz, /metrics with the canary gauges and the output check's diffs, and stops cleanly in-process", async () => {
    const api = await apiServer();
    const client = await clientFor(api.url);
    await namespace(client, 'shop');
    const config = loadConfig({ METRICS_ADDRESS: '127.0.0.1:0', LOG_LEVEL: 'silent', WORKERS: '2' });
    const diffs = new DiffStore();
    const png = Buffer.from('89504e470d0a1a0a', 'hex');
    const diffPath = diffs.put('shop', 'thumbs', png);
    const op = await startOperator(config, { client, diffs });
    try {
      const diff = await fetch(`${op.url}${diffPath}`);
      expect([diff.status, diff.headers.get('content-type'), Buffer.from(await diff.arrayBuffer())]).toEqual([200, 'image/png', png]);
      expect((await fetch(`${op.url}/canary/diffs/shop/thumbs/999.png`)).status).toBe(404);
      expect((await fetch(`${op.url}/healthz`)).status).toBe(200);
      const ready = await eventually('/readyz', async () => {
        const r = await fetch(`${op.url}/readyz`);
        return r.status === 200 ? r : undefined;
      });
      expect(await ready.json()).toEqual({ status: 'ok', leader: true });
      await client.create(resources.imageServices, imageService('thumbs', 'shop'));
      const metrics = await eventually('the canary gauges', async () => {
        const text = await (await fetch(`${op.url}/metrics`)).text();
        return text.includes('imageops_canary_weight{namespace="shop",name="thumbs"} 0') ? text : undefined;
      });
      expect(metrics).toContain('imageops_canary_phase{namespace="shop",name="thumbs"} 1');
      expect(metrics).toContain('imageops_reconcile_duration_seconds_count{namespace="shop",name="thumbs"}');
      expect(metrics).toContain('imageops_reconcile_errors_total');
      expect((await fetch(`${op.url}/nope`)).status).toBe(404);
    } finally {
      await op.stop();
    }
    await expect(fetch(`${op.url}/healthz`)).rejects.toThrow();
  });

  it('npm run operator: exits 2 with one line naming a bad variable', async () => {
    const { code, stderr } = await run({ WORKERS: 'many' });
    expect(code).toBe(2);
    expect(stderr.trim().split('\n')).toEqual([expect.stringMatching(/^imageops-operator: WORKERS="many": /)]);
  });

  it('npm run operator: reconciles from $KUBECONFIG, and on SIGTERM releases its lease and exits 0', async () => {
    const api = await apiServer();
    const client = await clientFor(api.url);
    await namespace(client, 'shop');
    const dir = await mkdtemp(join(tmpdir(), 'imageops-operator-'));
    try {
      const kubeconfig = await api.writeKubeconfig(join(dir, 'kubeconfig'));
      const child = spawn(NODE, [MAIN], {
        env: {
          PATH: process.env['PATH'],
          KUBECONFIG: kubeconfig,
          METRICS_ADDRESS: '127.0.0.1:0',
          LEADER_ELECTION: 'true',
          LEASE_NAMESPACE: 'default',
          POD_NAME: 'operator-0',
          LOG_LEVEL: 'warn',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const exited = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
      let stderr = '';
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      try {
        await client.create(resources.imageServices, imageService('thumbs', 'shop'));
        await eventually('the operator to create the children', () => getOrUndefined(client, resources.virtualServices, 'shop', 'thumbs'), 15_000);
        const lease = await client.get(resources.leases, 'default', 'imageops-operator');
        expect((lease['spec'] as { holderIdentity: string }).holderIdentity).toBe('operator-0');
        child.kill('SIGTERM');
        expect(await exited).toBe(0);
        const released = await client.get(resources.leases, 'default', 'imageops-operator');
        expect((released['spec'] as { holderIdentity: string }).holderIdentity).toBe('');
      } finally {
        child.kill('SIGKILL');
      }
      expect(stderr).toContain('SIGTERM: shutting down');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('EventRecorder', () => {
  it('counts a repeated event on one Event instead of creating another', async () => {
    const api = await apiServer();
    const client = await clientFor(api.url);
    await namespace(client, 'shop');
    const isvc = await client.create(resources.imageServices, imageService('thumbs', 'shop'));
    const recorder = new EventRecorder(client, { instance: 'test' });
    recorder.record(isvc, 'Warning', 'InvalidSpec', 'spec.x: bad');
    recorder.record(isvc, 'Warning', 'InvalidSpec', 'spec.x: bad');
    recorder.record(isvc, 'Warning', 'InvalidSpec', 'spec.x: bad');
    recorder.record(isvc, 'Normal', 'Initialized', 'ok');
    await recorder.flush();
    const events = (await client.list(resources.events, { namespace: 'shop' })).items;
    const invalid = events.filter((e) => e['reason'] === 'InvalidSpec');
    expect(invalid).toHaveLength(1);
    expect(invalid[0]).toMatchObject({ count: 3, type: 'Warning', message: 'spec.x: bad', involvedObject: { kind: 'ImageService', name: 'thumbs', uid: isvc.metadata.uid } });
    expect(events.filter((e) => e['reason'] === 'Initialized')).toHaveLength(1);
  });
});

function run(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(NODE, [MAIN], { env: { PATH: process.env['PATH'], ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

describe('the operator when the API server is down', () => {
  it('is alive but not ready, and catches up when the API server comes', async () => {
    // a free port, for an API server that starts later
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise((r) => probe.close(r));

    const client = await clientFor(`http://127.0.0.1:${port}`);
    const config = loadConfig({ METRICS_ADDRESS: '127.0.0.1:0', LOG_LEVEL: 'silent' });
    const op = await startOperator(config, { client });
    try {
      expect((await fetch(`${op.url}/healthz`)).status).toBe(200);
      expect((await fetch(`${op.url}/readyz`)).status).toBe(503);

      const api = await apiServer({ port });
      const admin = await clientFor(api.url);
      await namespace(admin, 'shop');
      await admin.create(resources.imageServices, imageService('thumbs', 'shop'));
      await eventually('/readyz', async () => (await fetch(`${op.url}/readyz`)).status === 200, 15_000);
      await eventually('the children', () => getOrUndefined(admin, resources.virtualServices, 'shop', 'thumbs'), 15_000);
    } finally {
      await op.stop();
    }
  });

  it('stops promptly while it never reached the API server', async () => {
    const client = await clientFor('http://127.0.0.1:1');
    const op = await startOperator(loadConfig({ METRICS_ADDRESS: '127.0.0.1:0', LOG_LEVEL: 'silent' }), { client });
    expect((await fetch(`${op.url}/readyz`)).status).toBe(503);
    await op.stop();
    expect(op.manager.leading()).toBe(false);
  });
});
