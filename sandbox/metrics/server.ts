// The sandbox's metrics-server: metrics.k8s.io/v1beta1 over TLS on loopback, behind kube-apiserver's
// aggregation layer (an APIService, control-plane.ts). Only the aggregator may call it: a client
// certificate from the front-proxy CA with an allowed name, as metrics-server checks through its
// requestheader options. kube-apiserver has authorised the user before it proxies; the identity
// headers it adds are not judged again here. Samples every pod the kubelets run, and their nodes,
// each second.
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { type LabelSelector, parseLabelSelector } from '../apiserver/selectors.ts';
import { GROUP, GROUP_VERSION, ResourceMetrics, startSampling, type UsageSource, VERSION } from './resource-metrics.ts';

export interface MetricsServerOptions {
  /** Every running pod's usage now, and every node's (the kubelets'). */
  usage: UsageSource;
  tls: { cert: Buffer; key: Buffer; clientCa: Buffer };
  /** Common names of the aggregator's client certificate (kube-apiserver's --requestheader-allowed-names). */
  allowedNames: string[];
  logger: Logger;
  sampleMs?: number;
}

export interface MetricsServer {
  port: number;
  stop(): Promise<void>;
}

const status = (code: number, reason: string, message: string) => ({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });

const DISCOVERY: Record<string, unknown> = {
  '/apis': {
    kind: 'APIGroupList',
    apiVersion: 'v1',
    groups: [{ name: GROUP, versions: [{ groupVersion: GROUP_VERSION, version: VERSION }], preferredVersion: { groupVersion: GROUP_VERSION, version: VERSION } }],
  },
  [`/apis/${GROUP}`]: {
    kind: 'APIGroup',
    apiVersion: 'v1',
    name: GROUP,
    versions: [{ groupVersion: GROUP_VERSION, version: VERSION }],
    preferredVersion: { groupVersion: GROUP_VERSION, version: VERSION },
  },
  // The aggregator merges every APIService's OpenAPI into kube-apiserver's; an empty one is enough.
  '/openapi/v2': { swagger: '2.0', info: { title: 'sandbox metrics-server', version: VERSION }, paths: {} },
  '/openapi/v3': { paths: {} },
  [`/apis/${GROUP_VERSION}`]: {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: GROUP_VERSION,
    resources: [
      { name: 'nodes', singularName: '', namespaced: false, kind: 'NodeMetrics', verbs: ['get', 'list'] },
      { name: 'pods', singularName: '', namespaced: true, kind: 'PodMetrics', verbs: ['get', 'list'] },
    ],
  },
};

const BASE = `^/apis/${GROUP_VERSION.replace('.', '\\.')}`;
const PODS = new RegExp(`${BASE}(?:/namespaces/([^/]+))?/pods(?:/([^/]+))?$`);
const NODES = new RegExp(`${BASE}/nodes(?:/([^/]+))?$`);

export async function startMetricsServer(o: MetricsServerOptions): Promise<MetricsServer> {
  const metrics = new ResourceMetrics();
  const stopSampling = startSampling(metrics, o.usage, o.logger, o.sampleMs);
  const server = https.createServer({ cert: o.tls.cert, key: o.tls.key, ca: o.tls.clientCa, requestCert: true, rejectUnauthorized: false }, (req, res) => {
    const send = (code: number, body: unknown) => res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    const socket = req.socket as TLSSocket;
    const name = socket.authorized ? socket.getPeerCertificate().subject?.CN : undefined;
    if (name === undefined || !o.allowedNames.includes(String(name))) return send(401, status(401, 'Unauthorized', 'Unauthorized'));
    const url = new URL(req.url ?? '/', 'https://metrics-server');
    if (['/healthz', '/readyz', '/livez'].includes(url.pathname)) return void res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    if (req.method !== 'GET') return send(405, status(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`));
    const doc = DISCOVERY[url.pathname];
    if (doc !== undefined) return send(200, doc);
    const pods = PODS.exec(url.pathname);
    const nodes = NODES.exec(url.pathname);
    if (pods === null && nodes === null) return send(404, status(404, 'NotFound', 'the server could not find the requested resource'));
    const [namespace, object] = (pods === null ? [undefined, nodes?.[1]] : [pods[1], pods[2]]).map((s) => (s === undefined ? undefined : decodeURIComponent(s)));
    let selector: LabelSelector;
    try {
      selector = parseLabelSelector(url.searchParams.get('labelSelector'));
    } catch (err) {
      return send(400, status(400, 'BadRequest', `unable to parse requirements: ${err instanceof Error ? err.message : String(err)}`));
    }
    const named = object === undefined ? {} : { name: object };
    const [items, kind, resource] =
      pods === null
        ? [metrics.listNodes({ ...named, selector }), 'NodeMetrics', 'nodes']
        : [metrics.list({ ...(namespace !== undefined ? { namespace } : {}), ...named, selector }), 'PodMetrics', 'pods'];
    if (object === undefined) return send(200, { kind: `${kind}List`, apiVersion: GROUP_VERSION, metadata: {}, items });
    const [item] = items;
    if (item === undefined) return send(404, { ...status(404, 'NotFound', `${kind.toLowerCase()}.${GROUP} "${object}" not found`), details: { name: object, group: GROUP, kind: resource } });
    return send(200, item);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    stop: async () => {
      stopSampling();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
