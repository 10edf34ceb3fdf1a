import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { KubeClient, type KubeObject, resources } from '../operator/src/kube/client.ts';
import { NotFoundError } from '../operator/src/kube/errors.ts';
import type { Connection } from '../operator/src/kube/kubeconfig.ts';
import { Manager, type ManagerOptions } from '../operator/src/manager.ts';
import { OperatorMetrics } from '../operator/src/metrics.ts';
import { type ApiServer, type ApiServerOptions, startApiServer } from '../sandbox/apiserver/server.ts';
import { ADMIN_USER, startControlPlane } from '../sandbox/control-plane/control-plane.ts';
import { installCrds, startingCrds } from '../sandbox/control-plane/crds.ts';
import { waitFor } from '../sandbox/demo/rollout.ts';
import { KubeClient as SandboxClient } from '../sandbox/kube/client.ts';
import type { ControlPlaneKind } from '../sandbox/sandbox.ts';

/**
 * The operator's integration tests run the sandbox's API server in-process (port 0) and one or
 * more operator Managers against it, with short backoffs so that faults resolve in
 * milliseconds. Everything started here is stopped by `stopAll`.
 */

const stoppers: Array<() => Promise<void>> = [];

export async function stopAll(): Promise<void> {
  for (const stop of stoppers.splice(0).reverse()) await stop().catch(() => undefined);
}

export async function apiServer(options: ApiServerOptions = {}): Promise<ApiServer> {
  const api = await startApiServer(options);
  stoppers.push(() => api.stop());
  return api;
}

export async function clientFor(url: string, connection: Omit<Connection, 'server'> = { credentials: async () => ({}) }): Promise<KubeClient> {
  const client = new KubeClient({ ...connection, server: new URL(url) }, { timeoutMs: 5_000 });
  stoppers.push(async () => client.close());
  return client;
}

export interface Cluster {
  /** The emulated API server's handle (faults, counts), on the emulated control plane. */
  api: ApiServer | undefined;
  url: string;
  /** An admin client through `url` (default: the API server itself; a relay's, to cut it off). */
  connect(url?: string): Promise<KubeClient>;
}

/**
 * An API server for the operator alone, no nodes: the emulator in process, or the real control
 * plane (etcd, kube-apiserver, the controller manager and the scheduler) with the repository's
 * CRDs and, unless `istio: false` or `gatewayApi: false`, Istio's and the Gateway API's.
 */
export async function cluster(kind: ControlPlaneKind, options: { istio?: boolean; gatewayApi?: boolean } = {}): Promise<Cluster> {
  if (kind === 'emulated') {
    const api = await apiServer(options);
    return { api, url: api.url, connect: (url) => clientFor(url ?? api.url) };
  }
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'imageops-operator-real-'));
  const cp = await startControlPlane({ stateDir, nodes: [], logger: pino({ level: 'silent' }) });
  stoppers.push(async () => {
    await cp.stop();
    fs.rmSync(stateDir, { recursive: true, force: true });
  });
  const admin = new SandboxClient(cp.connection(ADMIN_USER));
  const upstream = [...(options.istio === false ? [] : [cp.build.crd('istio')]), ...(options.gatewayApi === false ? [] : [cp.build.crd('gateway-api')])];
  await installCrds(admin, startingCrds(upstream));
  admin.close();
  const { server: _server, ...connection } = cp.connection(ADMIN_USER);
  return { api: undefined, url: cp.url, connect: (url) => clientFor(url ?? cp.url, connection) };
}

export async function namespace(client: KubeClient, name: string): Promise<void> {
  await client.create({ apiVersion: 'v1', kind: 'Namespace', plural: 'namespaces', namespaced: false }, { metadata: { name } });
}

export type ManagerOverrides = Partial<Omit<ManagerOptions, 'client' | 'logger'>>;

export async function operator(client: KubeClient, overrides: ManagerOverrides = {}): Promise<Manager> {
  const manager = new Manager({
    client,
    logger: pino({ level: process.env['TEST_LOG_LEVEL'] ?? 'silent' }),
    metrics: new OperatorMetrics({ processMetrics: false }),
    workers: 2,
    backoff: { baseMs: 10, maxMs: 500 },
    watchBackoff: { baseMs: 10, maxMs: 200 },
    ...overrides,
  });
  stoppers.push(() => manager.stop());
  await manager.start();
  return manager;
}

/** Polls until `check` returns a value other than undefined/false; fails after `timeoutMs`. */
export function eventually<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 10_000): Promise<T> {
  return waitFor(what, check, timeoutMs, 25);
}

export async function getOrUndefined(client: KubeClient, type: (typeof resources)[keyof typeof resources], ns: string, name: string): Promise<KubeObject | undefined> {
  try {
    return await client.get(type, ns, name);
  } catch (err) {
    if (err instanceof NotFoundError) return undefined;
    throw err;
  }
}

export function imageService(name: string, ns: string, spec: Record<string, unknown> = {}): KubeObject {
  return {
    apiVersion: 'imageops.dev/v1alpha1',
    kind: 'ImageService',
    metadata: { name, namespace: ns },
    spec: {
      image: 'imageops/image-service:1.0.0',
      source: { file: { claimName: 'image-originals' } },
      resources: { requests: { cpu: '500m', memory: '256Mi' }, limits: { cpu: '1500m', memory: '512Mi' } },
      traffic: { hosts: ['images.example.com'] },
      ...spec,
    },
  };
}

/** Status of an ImageService as the API server has it. */
export async function statusOf(client: KubeClient, ns: string, name: string): Promise<Record<string, unknown> & { conditions?: Array<Record<string, unknown>> }> {
  const obj = await client.get(resources.imageServices, ns, name);
  return (obj['status'] ?? {}) as Record<string, unknown>;
}

export function condition(status: { conditions?: Array<Record<string, unknown>> }, type: string): Record<string, unknown> | undefined {
  return status.conditions?.find((c) => c['type'] === type);
}

/** Waits until every queued and in-flight reconcile is done, the status caught up with the spec and the Events are written. */
export async function settled(client: KubeClient, manager: Manager, ns: string, name: string): Promise<void> {
  await eventually(`${ns}/${name} to settle`, async () => {
    const obj = await client.get(resources.imageServices, ns, name);
    const status = (obj['status'] ?? {}) as { observedGeneration?: number };
    return status.observedGeneration === obj.metadata.generation && manager.queue.length === 0 && manager.queue.inFlight === 0;
  });
  // Events are written in the background
  await manager.recorder.flush();
}

/**
 * A TCP relay to the API server that can be cut, as a network partition cuts a replica off:
 * the operator behind it can neither renew its lease nor write.
 */
export async function relay(target: string): Promise<{ url: string; cut(): void }> {
  const to = new URL(target);
  const sockets = new Set<net.Socket>();
  const server = net.createServer((inbound) => {
    const outbound = net.connect(Number(to.port), to.hostname);
    sockets.add(inbound).add(outbound);
    inbound.pipe(outbound).pipe(inbound);
    const drop = () => {
      inbound.destroy();
      outbound.destroy();
      sockets.delete(inbound);
      sockets.delete(outbound);
    };
    inbound.on('error', drop).on('close', drop);
    outbound.on('error', drop).on('close', drop);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const cut = () => {
    server.close();
    for (const s of sockets) s.destroy();
    sockets.clear();
  };
  stoppers.push(async () => cut());
  const { port } = server.address() as net.AddressInfo;
  return { url: `${to.protocol}//127.0.0.1:${port}`, cut };
}
