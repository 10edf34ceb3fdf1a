// Builders of the cluster objects the mesh reads, and a client that sets Host, for its tests.
import http from 'node:http';
import type { EndpointSlice, Endpoints, HTTPRoute, Pod, Service, VirtualService } from '../kube/types.ts';

export function pod(ns: string, name: string, deployment: string, hash: string, labels: Record<string, string> = {}): Pod {
  return {
    metadata: {
      name,
      namespace: ns,
      labels: { 'pod-template-hash': hash, ...labels },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `${deployment}-${hash}`, uid: `rs-${hash}`, controller: true }],
    },
    spec: { containers: [{ name: 'c' }] },
  };
}

export function service(ns: string, name: string, port = 80, portName = 'http'): Service {
  return { metadata: { name, namespace: ns }, spec: { ports: [{ name: portName, port, targetPort: port }] } };
}

export function slice(ns: string, svc: string, port: number, eps: { ip: string; pod: string; ready?: boolean }[], portName = 'http'): EndpointSlice {
  return {
    metadata: { name: `${svc}-abc`, namespace: ns, labels: { 'kubernetes.io/service-name': svc } },
    addressType: 'IPv4',
    ports: [{ name: portName, port }],
    endpoints: eps.map((e) => ({ addresses: [e.ip], conditions: { ready: e.ready ?? true }, targetRef: { kind: 'Pod', name: e.pod, namespace: ns } })),
  };
}

export function endpoints(ns: string, svc: string, port: number, eps: { ip: string; pod: string }[], portName = 'http'): Endpoints {
  return {
    metadata: { name: svc, namespace: ns },
    subsets: [{ addresses: eps.map((e) => ({ ip: e.ip, targetRef: { kind: 'Pod', name: e.pod, namespace: ns } })), ports: [{ name: portName, port }] }],
  };
}

export function virtualService(ns: string, name: string, hosts: string[], route: { host: string; weight: number }[]): VirtualService {
  return {
    metadata: { name, namespace: ns, creationTimestamp: '2026-01-01T00:00:00Z' },
    spec: { hosts, gateways: ['mesh'], http: [{ route: route.map((r) => ({ destination: { host: r.host }, weight: r.weight })) }] },
  };
}

/** An HTTPRoute attached to the mesh through the Service `parent`, weighted over `backends` on port 8080. */
export function httpRoute(ns: string, name: string, parent: string, backends: { name: string; weight?: number }[], created = '2026-01-01T00:00:00Z'): HTTPRoute {
  return {
    metadata: { name, namespace: ns, creationTimestamp: created },
    spec: { parentRefs: [{ group: '', kind: 'Service', name: parent, port: 8080 }], rules: [{ backendRefs: backends.map((b) => ({ ...b, port: 8080 })) }] },
  };
}

/** GET through the mesh with a Host header (fetch cannot set Host), and any others. */
export function getVia(url: string, host: string, agent?: http.Agent, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: agent ?? false, headers: { ...headers, host }, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} (Host: ${host}) timed out`)));
    req.on('error', reject);
  });
}
