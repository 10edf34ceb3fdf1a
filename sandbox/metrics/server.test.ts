// The metrics-server over TLS: only the aggregator's client certificate is served, and the API
// answers as metrics-server does. Certificates from the real control plane's pki.ts (openssl).
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FRONT_PROXY_CLIENT, makePki, type Pki } from '../control-plane/pki.ts';
import { waitFor } from '../demo/rollout.ts';
import type { NodeUsage, PodUsage } from '../kubelet/kubelet.ts';
import type { UsageSource } from './resource-metrics.ts';
import { type MetricsServer, startMetricsServer } from './server.ts';

let dir: string;
let pki: Pki;
let server: MetricsServer;
let cpuSeconds = 0;
const usage: UsageSource = {
  pods: (): PodUsage[] => [
    { namespace: 'shop', name: 'thumbs-primary-1', uid: 'u1', labels: { app: 'thumbs' }, containers: [{ name: 'app', cpuSeconds: (cpuSeconds += 0.01), memoryBytes: 50 << 20 }] },
  ],
  nodes: (): NodeUsage[] => [{ name: 'sandbox-1', labels: { 'kubernetes.io/hostname': 'sandbox-1' }, cpuSeconds: cpuSeconds * 10, memoryBytes: 1 << 30 }],
};

function get(urlPath: string, client?: { cert: Buffer; key: Buffer }, method = 'GET'): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port: server.port, path: urlPath, method, ca: pki.ca, servername: 'metrics-server.kube-system.svc', ...client }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The list at `urlPath` once it has an item: an object appears with its second sample. */
const listed = (urlPath: string) =>
  waitFor(
    `${urlPath} to list an object`,
    async () => {
      const r = await get(urlPath, aggregator());
      return (r.body['items'] as unknown[]).length > 0 ? r.body : undefined;
    },
    5_000,
    50,
  );

const read = (file: string) => fs.readFileSync(file);
const aggregator = () => ({ cert: read(pki.frontProxy.client.certFile), key: read(pki.frontProxy.client.keyFile) });

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'imageops-metrics-'));
  pki = makePki(path.join(dir, 'pki'), []);
});
beforeAll(async () => {
  server = await startMetricsServer({
    usage,
    tls: { cert: pki.metricsServer.cert, key: pki.metricsServer.key, clientCa: pki.frontProxy.ca },
    allowedNames: [FRONT_PROXY_CLIENT],
    logger: pino({ level: 'silent' }),
    sampleMs: 50,
  });
});
afterAll(async () => {
  await server?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('the sandbox metrics-server', () => {
  it.each([
    ['no client certificate', () => undefined],
    ['a certificate of the cluster CA, not the front-proxy CA', () => ({ cert: pki.kubelet.cert, key: pki.kubelet.key })],
  ])('refuses %s with 401', async (_name, client) => {
    expect((await get('/apis/metrics.k8s.io/v1beta1/pods', client())).status).toBe(401);
  });

  it('serves discovery and the pods of a namespace by label selector to the aggregator', async () => {
    const discovery = await get('/apis/metrics.k8s.io/v1beta1', aggregator());
    expect(discovery.body).toMatchObject({
      kind: 'APIResourceList',
      groupVersion: 'metrics.k8s.io/v1beta1',
      resources: [
        { name: 'nodes', kind: 'NodeMetrics', namespaced: false },
        { name: 'pods', kind: 'PodMetrics', namespaced: true },
      ],
    });
    const list = await listed('/apis/metrics.k8s.io/v1beta1/namespaces/shop/pods?labelSelector=app%3Dthumbs');
    expect(list).toMatchObject({ kind: 'PodMetricsList', items: [{ metadata: { name: 'thumbs-primary-1', namespace: 'shop' }, containers: [{ name: 'app', usage: { memory: '51200Ki' } }] }] });
    expect((await get('/apis/metrics.k8s.io/v1beta1/namespaces/shop/pods?labelSelector=app%3Dother', aggregator())).body['items']).toEqual([]);
    expect((await get('/apis/metrics.k8s.io/v1beta1/namespaces/shop/pods/thumbs-primary-1', aggregator())).body).toMatchObject({ kind: 'PodMetrics' });
  });

  it('serves the nodes, all, by name and by label selector', async () => {
    const list = await listed('/apis/metrics.k8s.io/v1beta1/nodes');
    expect(list).toMatchObject({
      kind: 'NodeMetricsList',
      items: [{ kind: 'NodeMetrics', metadata: { name: 'sandbox-1', labels: { 'kubernetes.io/hostname': 'sandbox-1' } }, usage: { memory: '1048576Ki' } }],
    });
    expect((await get('/apis/metrics.k8s.io/v1beta1/nodes/sandbox-1', aggregator())).body).toMatchObject({ kind: 'NodeMetrics', metadata: { name: 'sandbox-1' } });
    expect((await get('/apis/metrics.k8s.io/v1beta1/nodes?labelSelector=kubernetes.io%2Fhostname%3Dother', aggregator())).body['items']).toEqual([]);
  });

  it.each([
    ['an unknown node', '/apis/metrics.k8s.io/v1beta1/nodes/nope', 'GET', 404, /nodemetrics.metrics.k8s.io "nope" not found/],
    ['an unknown pod', '/apis/metrics.k8s.io/v1beta1/namespaces/shop/pods/nope', 'GET', 404, /podmetrics.metrics.k8s.io "nope" not found/],
    ['a bad selector', '/apis/metrics.k8s.io/v1beta1/pods?labelSelector=%3D%3D%3D', 'GET', 400, /unable to parse requirements/],
    ['a write', '/apis/metrics.k8s.io/v1beta1/namespaces/shop/pods', 'POST', 405, /does not allow this method/],
    ['another path', '/api/v1/pods', 'GET', 404, /could not find/],
  ])('answers %s with a Status', async (_name, p, method, status, message) => {
    const r = await get(p, aggregator(), method);
    expect(r.status).toBe(status);
    expect(r.body).toMatchObject({ kind: 'Status', code: status });
    expect(String(r.body['message'])).toMatch(message);
  });
});
