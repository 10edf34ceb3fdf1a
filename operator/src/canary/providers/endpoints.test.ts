import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiServer, startApiServer } from '../../../../sandbox/apiserver/server.ts';
import { KubeClient } from '../../kube/client.ts';
import { kubeEndpoints } from './endpoints.ts';

// The sandbox's API server emulator stands in for the cluster.
let server: ApiServer;
let client: KubeClient;

const slice = (name: string, service: string, ports: { name?: string; port: number }[], endpoints: unknown[]) => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { name, namespace: 'shop', labels: { 'kubernetes.io/service-name': service } },
  addressType: 'IPv4',
  ports,
  endpoints,
});

beforeAll(async () => {
  server = await startApiServer({ crdPaths: [], istio: false });
  client = await KubeClient.fromKubeconfig(server.kubeconfig());
  const post = (path: string, body: unknown) => fetch(server.url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  await post('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } });
  const slices = [
    slice(
      'thumbs-canary-a',
      'thumbs-canary',
      [
        { name: 'metrics', port: 9100 },
        { name: 'http', port: 8080 },
      ],
      [
        { addresses: ['127.0.0.11'], conditions: { ready: true }, targetRef: { kind: 'Pod', name: 'thumbs-canary-7d9-a' } },
        { addresses: ['127.0.0.12'], conditions: { ready: false }, targetRef: { kind: 'Pod', name: 'thumbs-canary-7d9-b' } },
        { addresses: ['127.0.0.13'], targetRef: { kind: 'Pod', name: 'thumbs-canary-7d9-c' } },
      ],
    ),
    slice('thumbs-canary-b', 'thumbs-canary', [{ port: 8081 }], [{ addresses: ['127.0.0.14'] }]),
    slice('thumbs-primary-a', 'thumbs-primary', [{ name: 'http', port: 8080 }], [{ addresses: ['127.0.0.21'], conditions: { ready: true } }]),
  ];
  for (const s of slices) {
    const r = await post('/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices', s);
    expect(r.status).toBe(201);
  }
});

afterAll(async () => {
  client?.close();
  await server?.stop();
});

describe('kubeEndpoints', () => {
  it('lists the ready endpoints of the canary Service, on its http port', async () => {
    const pods = await kubeEndpoints(client)({ namespace: 'shop', workload: 'thumbs-canary', service: 'thumbs-canary' });
    expect(pods.sort((a, b) => a.url.localeCompare(b.url))).toEqual([
      { pod: 'thumbs-canary-7d9-a', url: 'http://127.0.0.11:8080' },
      // an unset ready condition means ready (Kubernetes API semantics)
      { pod: 'thumbs-canary-7d9-c', url: 'http://127.0.0.13:8080' },
      // no targetRef: the address names the pod; the only port is the http port
      { pod: '127.0.0.14', url: 'http://127.0.0.14:8081' },
    ]);
  });

  it('answers no pods for a Service without slices', async () => {
    expect(await kubeEndpoints(client)({ namespace: 'shop', workload: 'x', service: 'logos-canary' })).toEqual([]);
  });

  it('fails with the API error when the API server is down', async () => {
    const dead = await KubeClient.fromKubeconfig(server.kubeconfig().replace(/127\.0\.0\.1:\d+/, '127.0.0.1:1'), { timeoutMs: 2_000 });
    try {
      await expect(kubeEndpoints(dead)({ namespace: 'shop', workload: 'x', service: 'thumbs-canary' })).rejects.toThrow(/endpointslices/);
    } finally {
      dead.close();
    }
  });
});
