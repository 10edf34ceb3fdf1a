// The sandbox: a control plane, kubelets running pods as processes, the mesh, and Prometheus
// when installed, all on loopback, composed and stopped as one. Tests and `npm run sandbox` start
// it the same way. The control plane is either the emulated API server with the sandbox's own
// workload controllers (starts in a second, no build), or the real one: etcd, kube-apiserver,
// kube-controller-manager and kube-scheduler built from upstream sources, with two Nodes.
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import pino, { type Logger } from 'pino';
import { z } from 'zod';
import { ApiError as ApiServerError } from './apiserver/errors.ts';
import type { LogProvider } from './apiserver/logs.ts';
import { parseLabelSelector } from './apiserver/selectors.ts';
import { type ApiServer, startApiServer } from './apiserver/server.ts';
import { ADMIN_USER, type ControlPlane, nodeUser, startControlPlane } from './control-plane/control-plane.ts';
import { installCrds, startingCrds } from './control-plane/crds.ts';
import { Provisioner } from './control-plane/provisioner.ts';
import { ControllerManager } from './controllers/manager.ts';
import { ApiError, informer, KubeClient, RESOURCES, runInformers } from './kube/client.ts';
import { type Pod, PodSchema } from './kube/types.ts';
import { type CatalogueEntry, imageServiceEntry, operatorEntry } from './kubelet/catalogue.ts';
import { Kubelet, LogError } from './kubelet/kubelet.ts';
import { cleanupNetwork, LoopbackNetwork, NamespaceNetwork } from './kubelet/network.ts';
import { claimDir } from './kubelet/volumes.ts';
import { MeshRouter } from './mesh/router.ts';
import { MeshWatcher } from './mesh/watch.ts';
import { serveResourceMetrics } from './metrics/apiservice.ts';
import { GROUP, ResourceMetrics, startSampling, type UsageSource, VERSION } from './metrics/resource-metrics.ts';
import { isAlive, killRecorded } from './pids.ts';
import { findPrometheus, Prometheus } from './prometheus.ts';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export const CONTROL_PLANES = ['emulated', 'real'] as const;
export type ControlPlaneKind = (typeof CONTROL_PLANES)[number];

/** `--control-plane` as given, else $SANDBOX_CONTROL_PLANE, else the emulated one (it starts in a second on a fresh machine). */
export function defaultControlPlane(flag?: string, env: NodeJS.ProcessEnv = process.env): ControlPlaneKind {
  const v = flag ?? env['SANDBOX_CONTROL_PLANE'];
  if (v === undefined || v === '') return 'emulated';
  if ((CONTROL_PLANES as readonly string[]).includes(v)) return v as ControlPlaneKind;
  throw new Error(`the control plane must be one of ${CONTROL_PLANES.join(', ')}, not "${v}" (--control-plane or SANDBOX_CONTROL_PLANE)`);
}

/** The nodes of the real control plane's cluster, each with its kubelet. */
export const REAL_NODES = ['sandbox-1', 'sandbox-2'];

/** What an extra component (the operator, a demo) gets to work with. */
export interface SandboxContext {
  apiServer: string;
  kubeconfigPath: string;
  mesh: string;
  prometheus: string | undefined;
  stateDir: string;
  logger: Logger;
  /** Has the sandbox's Prometheus (when it runs) scrape a process's metrics URL until the returned function is called. */
  scrape(component: string, url: string): () => void;
}

/** A part started after the core and stopped before it, e.g. the operator. */
export interface SandboxComponent {
  name: string;
  start(ctx: SandboxContext): Promise<{ stop(): Promise<void> }>;
}

export interface SandboxOptions {
  /** Directory for the kubeconfig, pod volumes and logs, Prometheus data, pid files. Created if missing. */
  stateDir: string;
  /** `auto` (default): run Prometheus when the binary is found; `required`: fail without it; `off`. */
  prometheus?: 'auto' | 'required' | 'off';
  /** More images for the kubelet's catalogue (tests). */
  extraImages?: CatalogueEntry[];
  /** Started in order after the core, stopped in reverse before it. */
  components?: SandboxComponent[];
  /** Fixed mesh port (default: a free one). */
  meshPort?: number;
  /** Authenticate with bearer tokens and authorize with RBAC (the API server's `rbac`); the sandbox's parts and its kubeconfig use the admin token. Emulated only: the real control plane always does. */
  rbac?: boolean;
  /** Default: defaultControlPlane(). */
  controlPlane?: ControlPlaneKind;
  logger?: Logger;
}

export interface Sandbox extends SandboxContext {
  /** The mesh's Istio metrics (Envoy's stats port). */
  meshMetrics: string;
  client: KubeClient;
  controlPlane: ControlPlaneKind;
  /** The emulated API server's handle (fault injection, tokens), when that is the control plane. */
  emulator: ApiServer | undefined;
  /** The real control plane's handle (identities, binaries), when that is the control plane. */
  real: ControlPlane | undefined;
  kubelets: Kubelet[];
  /** Prometheus as pods reach it (the operator run by the chart): the pod network's gateway on the real control plane. */
  podPrometheus: string | undefined;
  /**
   * The directory of a PersistentVolumeClaim's volume, to put originals in; on the real control
   * plane the claim is created (as a user would) and bound before this returns.
   */
  claim(namespace: string, name: string): Promise<string>;
  /** Processes the sandbox started that are alive now (containers and Prometheus). */
  pids(): number[];
  stop(): Promise<void>;
}

/** The pod log route of the API server, served from the kubelet's files. */
export function kubeletLogProvider(kubelet: Kubelet): LogProvider {
  const toApi = (err: unknown): never => {
    if (err instanceof LogError) throw new ApiServerError(err.status, err.status === 404 ? 'NotFound' : 'BadRequest', err.message);
    throw err;
  };
  return (req) => {
    const r = { namespace: req.namespace, name: req.pod, container: req.container, previous: req.previous, tailLines: req.tailLines, timestamps: req.timestamps, sinceSeconds: req.sinceSeconds };
    if (!req.follow)
      return Promise.resolve()
        .then(() => kubelet.logs(r))
        .catch(toApi);
    try {
      kubelet.logs(r); // refuses a bad request before streaming starts
    } catch (err) {
      toApi(err);
    }
    return kubelet.follow(r, req.signal);
  };
}

export async function startSandbox(options: SandboxOptions): Promise<Sandbox> {
  const logger = options.logger ?? pino({ level: process.env.SANDBOX_LOG_LEVEL ?? 'warn' });
  const stateDir = path.resolve(options.stateDir);
  fs.mkdirSync(stateDir, { recursive: true });
  const leftovers = killRecorded(stateDir);
  if (leftovers.length > 0) logger.warn({ pids: leftovers }, 'killed processes left by an earlier sandbox in this state dir');

  // A process that exits without stop() (a crashed test, an uncaught error) still takes its
  // pods and Prometheus with it; only SIGKILL of this process leaves them to the next run's cleanup.
  const onExit = (): void => void killRecorded(stateDir);
  process.once('exit', onExit);
  const stops: { name: string; stop: () => Promise<void> }[] = [{ name: 'exit-hook', stop: async () => void process.removeListener('exit', onExit) }];
  const stopAll = async (): Promise<void> => {
    for (const s of stops.splice(0).reverse()) {
      try {
        await s.stop();
      } catch (err) {
        logger.warn({ component: s.name, err: String(err) }, 'stop failed');
      }
    }
  };
  try {
    const kubeconfigPath = path.join(stateDir, 'kubeconfig');
    const kind = options.controlPlane ?? defaultControlPlane();
    const router = new MeshRouter({ ...(options.meshPort !== undefined ? { port: options.meshPort } : {}), logger });
    await cleanupNetwork(stateDir);
    const network = kind === 'emulated' ? new LoopbackNetwork() : await NamespaceNetwork.create(stateDir);
    stops.push({ name: 'pod network', stop: () => network.close() });
    const kubeletOptions = {
      catalogue: [imageServiceEntry(REPO_ROOT), operatorEntry(REPO_ROOT), ...(options.extraImages ?? [])],
      network,
      stateDir,
      logger: logger.child({ component: 'kubelet' }),
    };
    let client: KubeClient;
    let emulator: ApiServer | undefined;
    let real: ControlPlane | undefined;
    const kubelets: Kubelet[] = [];
    if (kind === 'emulated') {
      const api = await startApiServer({ kubeconfigPath, rbac: options.rbac ?? false });
      emulator = api;
      stops.push({ name: 'apiserver', stop: () => api.stop() });
      client = new KubeClient(api.url, { ...(api.rbac ? { token: api.rbac.adminToken } : {}) });
      kubelets.push(new Kubelet({ ...kubeletOptions, client }));
      api.setLogProvider(kubeletLogProvider(kubelets[0]!));
    } else {
      const gateway = network instanceof NamespaceNetwork ? network.gateway : undefined;
      const cp = await startControlPlane({ stateDir, nodes: REAL_NODES, logger, ...(gateway ? { advertiseAddress: gateway } : {}) });
      real = cp;
      stops.push({ name: 'control-plane', stop: () => cp.stop() });
      // Pods reach kube-apiserver as in a cluster: the `kubernetes` Service's endpoint, with a token of their ServiceAccount.
      const apiServer = network instanceof NamespaceNetwork ? await network.forward(cp.port) : undefined;
      fs.writeFileSync(kubeconfigPath, cp.kubeconfig(ADMIN_USER), { mode: 0o600 });
      client = new KubeClient(cp.connection(ADMIN_USER));
      await installCrds(client, startingCrds([cp.build.crd('istio'), cp.build.crd('gateway-api')]));
      const provisioner = new Provisioner(client, path.join(stateDir, 'claims'), logger.child({ component: 'provisioner' }));
      await provisioner.start();
      stops.push({ name: 'provisioner', stop: () => provisioner.stop() });
      for (const node of REAL_NODES) {
        kubelets.push(new Kubelet({ ...kubeletOptions, apiServer, client: new KubeClient(cp.connection(nodeUser(node))), nodeName: node, schedule: false, serving: cp.pki.kubelet }));
      }
    }

    const meshUrls = await router.start();
    stops.push({ name: 'mesh', stop: () => router.stop() });

    for (const kubelet of kubelets) {
      await kubelet.start();
      stops.push({ name: `kubelet ${kubelet.nodeName}`, stop: () => kubelet.stop() });
    }

    // What the resource metrics API serves: the kubelets' pods, and their nodes (the machine's usage).
    const usage: UsageSource = { pods: () => kubelets.flatMap((k) => k.usage()), nodes: () => kubelets.map((k) => k.nodeUsage()) };
    if (emulator !== undefined) {
      // The resource metrics API, served by the emulator itself (no aggregation layer), and the HPA controller that reads it.
      const metrics = new ResourceMetrics();
      const stopSampling = startSampling(metrics, usage, logger);
      stops.push({ name: 'resource-metrics', stop: async () => stopSampling() });
      emulator.provide(
        { group: GROUP, version: VERSION, resource: 'pods', kind: 'PodMetrics' },
        { list: (namespace, selector) => metrics.list({ ...(namespace !== undefined ? { namespace } : {}), selector: parseLabelSelector(selector) }) },
      );
      emulator.provide(
        { group: GROUP, version: VERSION, resource: 'nodes', kind: 'NodeMetrics', namespaced: false },
        { list: (_namespace, selector) => metrics.listNodes({ selector: parseLabelSelector(selector) }) },
      );
      const controllers = new ControllerManager(client, logger.child({ component: 'controllers' }));
      await controllers.start();
      stops.push({ name: 'controllers', stop: () => controllers.stop() });
    } else if (real !== undefined) {
      const metrics = await serveResourceMetrics(client, real.pki, usage, logger.child({ component: 'metrics-server' }));
      stops.push({ name: 'metrics-server', stop: () => metrics.stop() });
      // Pods of a namespace are refused until its default ServiceAccount exists.
      const deadline = Date.now() + 30_000;
      while ((await client.get(RESOURCES.serviceaccounts, z.unknown(), 'default', 'default')) === undefined) {
        if (Date.now() > deadline) throw new Error('the controller manager created no default ServiceAccount within 30 s (see its log in the state dir)');
        await sleep(100);
      }
    }

    const watcher = new MeshWatcher(client, router, logger.child({ component: 'mesh' }));
    await watcher.start();
    stops.push({ name: 'mesh-watch', stop: () => watcher.stop() });

    let prometheus: Prometheus | undefined;
    const mode = options.prometheus ?? 'auto';
    const bin = mode === 'off' ? undefined : findPrometheus();
    if (bin === undefined && mode === 'required') throw new Error('Prometheus is required but not installed: apt-get install -y prometheus, or set PROMETHEUS_BIN');
    if (bin === undefined && mode === 'auto') logger.warn('prometheus not found on PATH or $PROMETHEUS_BIN: the sandbox runs without it (canary analysis falls back to the direct provider)');
    if (bin !== undefined) {
      const pods = informer<Pod>(client, RESOURCES.pods, PodSchema, logger);
      stops.push({ name: 'prometheus-pods', stop: await runInformers([pods]) });
      const p = new Prometheus({ bin, pods, meshMetricsUrl: meshUrls.metricsUrl, stateDir, logger });
      await p.start();
      prometheus = p;
      stops.push({ name: 'prometheus', stop: () => p.stop() });
    }
    let podPrometheus = prometheus?.url;
    if (prometheus !== undefined && network instanceof NamespaceNetwork) {
      const port = Number(new URL(prometheus.url).port);
      podPrometheus = `http://${(await network.forward(port)).host}:${port}`;
    }

    const scrape = (component: string, url: string): (() => void) => prometheus?.scrape(component, url) ?? (() => undefined);
    const ctx: SandboxContext = { apiServer: client.baseUrl, kubeconfigPath, mesh: meshUrls.url, prometheus: prometheus?.url, stateDir, logger, scrape };
    for (const component of options.components ?? []) {
      const handle = await component.start(ctx);
      stops.push({ name: component.name, stop: () => handle.stop() });
    }

    const claim = async (namespace: string, name: string): Promise<string> => {
      const dir = claimDir(path.join(stateDir, 'claims'), namespace, name);
      await fs.promises.mkdir(dir, { recursive: true });
      if (kind === 'emulated') return dir;
      const pvc = { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name, namespace }, spec: { accessModes: ['ReadOnlyMany'], resources: { requests: { storage: '1Gi' } } } };
      await client.create(RESOURCES.persistentvolumeclaims, namespace, pvc).catch((err: unknown) => {
        if (!(err instanceof ApiError && err.status === 409)) throw err;
      });
      const Bound = z.looseObject({ status: z.looseObject({ phase: z.string().optional() }).optional() });
      const deadline = Date.now() + 30_000;
      while ((await client.get(RESOURCES.persistentvolumeclaims, Bound, namespace, name))?.status?.phase !== 'Bound') {
        if (Date.now() > deadline) throw new Error(`PersistentVolumeClaim ${namespace}/${name} was not bound within 30 s`);
        await sleep(100);
      }
      return dir;
    };

    let stopped: Promise<void> | undefined;
    return {
      ...ctx,
      meshMetrics: meshUrls.metricsUrl,
      client,
      controlPlane: kind,
      emulator,
      real,
      kubelets,
      podPrometheus,
      claim,
      pids: () => [...kubelets.flatMap((k) => k.pids()), ...(prometheus?.pid !== undefined ? [prometheus.pid] : []), ...(real?.pids() ?? [])].filter(isAlive),
      stop: () => (stopped ??= stopAll()),
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
