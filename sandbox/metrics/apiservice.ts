// The resource metrics API on the real control plane: the sandbox's metrics-server registered with
// kube-apiserver's aggregation layer as metrics-server's manifests do (an APIService for
// v1beta1.metrics.k8s.io naming a Service in kube-system), so that the HPA controller in
// kube-controller-manager, `kubectl top pods` and `kubectl top nodes` read it through kube-apiserver.
//
// The Service is an ExternalName for localhost: the server listens on loopback like every other
// sandbox server, and kube-apiserver refuses loopback addresses in Endpoints, so a ClusterIP
// Service with --enable-aggregator-routing could only reach it on a non-loopback address. With an
// ExternalName the aggregator dials localhost:PORT and still verifies the serving certificate
// against <name>.<namespace>.svc, which is what a cluster's aggregator checks.

import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { FRONT_PROXY_CLIENT, METRICS_SERVICE, type Pki } from '../control-plane/pki.ts';
import { type KubeClient, RESOURCES } from '../kube/client.ts';
import { GROUP, type UsageSource, VERSION } from './resource-metrics.ts';
import { type MetricsServer, startMetricsServer } from './server.ts';

const APISERVICE_NAME = `${VERSION}.${GROUP}`;

/** Starts the server, registers it, and waits until kube-apiserver reports the APIService Available. */
export async function serveResourceMetrics(client: KubeClient, pki: Pki, usage: UsageSource, logger: Logger, timeoutMs = 30_000): Promise<MetricsServer> {
  const server = await startMetricsServer({
    usage,
    tls: { cert: pki.metricsServer.cert, key: pki.metricsServer.key, clientCa: pki.frontProxy.ca },
    allowedNames: [FRONT_PROXY_CLIENT],
    logger,
  });
  try {
    const { namespace, name } = METRICS_SERVICE;
    await client.create(RESOURCES.services, namespace, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace, labels: { 'k8s-app': 'metrics-server' } },
      spec: { type: 'ExternalName', externalName: 'localhost', ports: [{ name: 'https', port: server.port, protocol: 'TCP' }] },
    });
    await client.request('POST', '/apis/apiregistration.k8s.io/v1/apiservices', {
      apiVersion: 'apiregistration.k8s.io/v1',
      kind: 'APIService',
      metadata: { name: APISERVICE_NAME, labels: { 'k8s-app': 'metrics-server' } },
      spec: {
        group: GROUP,
        version: VERSION,
        service: { namespace, name, port: server.port },
        caBundle: pki.ca.toString('base64'),
        groupPriorityMinimum: 100,
        versionPriority: 100,
      },
    });
    const deadline = Date.now() + timeoutMs;
    let last = 'no condition yet';
    for (;;) {
      const apiservice = (await client.request('GET', `/apis/apiregistration.k8s.io/v1/apiservices/${APISERVICE_NAME}`)) as {
        status?: { conditions?: { type: string; status: string; message?: string }[] };
      };
      const available = apiservice.status?.conditions?.find((c) => c.type === 'Available');
      if (available?.status === 'True') return server;
      last = available?.message ?? last;
      if (Date.now() > deadline) throw new Error(`APIService ${APISERVICE_NAME} did not become Available within ${timeoutMs} ms: ${last}`);
      await sleep(200);
    }
  } catch (err) {
    await server.stop();
    throw err;
  }
}
