// Helpers for tests that run workloads in a sandbox: wait for a condition, talk to the mesh with a
// Host header, and describe image-service Deployments.
import http from 'node:http';
import { waitFor as poll } from '../sandbox/demo/rollout.ts';

/** Polls `probe` until it has a value (undefined and false mean "not yet"). */
export function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000, everyMs = 100): Promise<T> {
  return poll(what, probe, timeoutMs, everyMs);
}

export interface Answer {
  status: number;
  body: Buffer;
  headers: http.IncomingHttpHeaders;
  ms: number;
}

/** A request through the mesh: fetch cannot set Host, so plain http with a keep-alive agent. */
export function meshGet(meshUrl: string, host: string, path: string, agent: http.Agent): Promise<Answer> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.get(new URL(path, meshUrl), { agent, headers: { host }, timeout: 15_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), headers: res.headers, ms: performance.now() - started }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} (Host: ${host}) timed out`)));
    req.on('error', reject);
  });
}

export function imageServiceDeployment(name: string, namespace: string, image: string, replicas: number, imagesDir: string): Record<string, unknown> {
  const labels = { app: name };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace },
    spec: {
      replicas,
      selector: { matchLabels: labels },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      template: {
        metadata: { labels, annotations: { 'prometheus.io/scrape': 'true', 'prometheus.io/port': '8080' } },
        spec: {
          terminationGracePeriodSeconds: 10,
          containers: [
            {
              name: 'image-service',
              image,
              ports: [{ name: 'http', containerPort: 8080 }],
              env: [
                { name: 'IMAGE_SOURCE', value: 'file:///images' },
                { name: 'IMAGE_SERVICE_LOG_LEVEL', value: 'info' },
                { name: 'IMAGE_SERVICE_WORKERS', value: '1' },
              ],
              readinessProbe: { httpGet: { path: '/readyz', port: 'http' }, periodSeconds: 1, timeoutSeconds: 2, failureThreshold: 2 },
              livenessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 5, timeoutSeconds: 2, failureThreshold: 3 },
              volumeMounts: [{ name: 'images', mountPath: '/images', readOnly: true }],
            },
          ],
          volumes: [{ name: 'images', hostPath: { path: imagesDir, type: 'Directory' } }],
        },
      },
    },
  };
}

export function service(name: string, namespace: string, selector: Record<string, string>): Record<string, unknown> {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace }, spec: { selector, ports: [{ name: 'http', port: 80, targetPort: 'http' }] } };
}

/** The reasons and messages of the Events recorded about an object. */
export async function eventsAbout(
  client: { request(method: string, path: string): Promise<Record<string, unknown>> },
  namespace: string,
  name: string,
): Promise<{ reason: string; message: string; type: string; count: number }[]> {
  const list = (await client.request('GET', `/api/v1/namespaces/${namespace}/events?fieldSelector=${encodeURIComponent(`involvedObject.name=${name}`)}`)) as {
    items: { reason: string; message: string; type: string; count: number }[];
  };
  return list.items.map((e) => ({ reason: e.reason, message: e.message, type: e.type, count: e.count }));
}
