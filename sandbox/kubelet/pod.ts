// One pod on the sandbox's node: an address, its volumes and env, one ContainerRunner per
// container, and its status written back through the API whenever it changes.
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { EventRecorder } from '../../operator/src/kube/events.ts';
import { ApiError, type KubeClient, RESOURCES, resourcePath } from '../kube/client.ts';
import { type ConfigMap, ConfigMapSchema, type Pod, PodSchema, type Secret, SecretSchema } from '../kube/types.ts';
import { type CatalogueEntry, pull } from './catalogue.ts';
import { ContainerRunner, type ContainerStatus, type ContainerUsage } from './container.ts';
import { ContainerConfigError, type EnvInputs, fieldValue, referencedObjects, resolveEnv } from './env.ts';
import type { PodAddress, PodNetwork } from './network.ts';
import { buildPodStatus, qosClass } from './status.ts';
import { materialiseVolumes, mountsOf, type Projection, projectedFiles, translatePath, writeAtomically } from './volumes.ts';

export interface NodeContext {
  client: KubeClient;
  catalogue: readonly CatalogueEntry[];
  network: PodNetwork;
  stateDir: string;
  hostIP: string;
  nodeName: string;
  nodeAllocatable: EnvInputs['nodeAllocatable'];
  /** Environment every container inherits (PATH and the like); the pod's env is laid over it. */
  baseEnv: NodeJS.ProcessEnv;
  logger: Logger;
  events: EventRecorder;
  /**
   * Where pods reach the API server: the `kubernetes` Service's endpoint, given to every container
   * as KUBERNETES_SERVICE_HOST/PORT (no kube-proxy makes its ClusterIP answer). Absent on the
   * emulated control plane.
   */
  apiServer?: { host: string; port: number } | undefined;
}

const SETUP_RETRY_MS = 2000;
/** The kubelet's token manager refreshes a projected token at 80% of its life, and at least daily. */
const TOKEN_REFRESH_SHARE = 0.8;
const TOKEN_MAX_AGE_MS = 24 * 3600_000;

/** When a token issued at `issuedMs` that expires at `expiresMs` is refreshed. */
export function tokenRefreshAt(issuedMs: number, expiresMs: number): number {
  return issuedMs + Math.min((expiresMs - issuedMs) * TOKEN_REFRESH_SHARE, TOKEN_MAX_AGE_MS);
}

const TokenRequestStatus = z.looseObject({ status: z.looseObject({ token: z.string(), expirationTimestamp: z.string() }) });

export class PodWorker {
  readonly #ctx: NodeContext;
  #pod: Pod;
  readonly #dir: string;
  #address: PodAddress | undefined;
  #podIP: string | undefined;
  readonly #startTime = new Date().toISOString();
  #runners: ContainerRunner[] = [];
  /** Containers that could not be created yet, with the reason. */
  #waiting = new Map<string, { reason: string; message: string }>();
  #initialized = false;
  #terminating = false;
  /** The node is shutting down: nobody reads statuses any more. */
  #silent = false;
  #writing = false;
  #dirty = false;
  #lastWritten = '';
  #retry: NodeJS.Timeout | undefined;
  #tokenRefresh: NodeJS.Timeout | undefined;
  /** The earliest refresh time of the tokens written since the last refresh. */
  #refreshAt = Infinity;

  constructor(pod: Pod, ctx: NodeContext) {
    this.#pod = pod;
    this.#ctx = ctx;
    const m = pod.metadata;
    this.#dir = path.join(ctx.stateDir, 'pods', `${m.namespace ?? 'default'}_${m.name}_${m.uid ?? ''}`);
  }

  get pod(): Pod {
    return this.#pod;
  }

  #event(type: 'Normal' | 'Warning', reason: string, message: string): void {
    this.#ctx.events.record({ apiVersion: 'v1', kind: 'Pod', metadata: this.#pod.metadata }, type, reason, message);
  }

  update(pod: Pod): void {
    this.#pod = pod;
  }

  runner(container: string | undefined): ContainerRunner | undefined {
    return container === undefined ? this.#runners[0] : this.#runners.find((r) => r.name === container);
  }

  get containerNames(): string[] {
    return this.#pod.spec.containers.map((c) => c.name);
  }

  pids(): number[] {
    return this.#runners.flatMap((r) => (r.pid === undefined ? [] : [r.pid]));
  }

  /** Each running container's usage; undefined unless every container of the pod has it (a pod is measured whole). */
  usage(): ContainerUsage[] | undefined {
    const usage = this.#runners.map((r) => r.usage());
    if (usage.length === 0 || usage.length < this.containerNames.length) return undefined;
    return usage.every((u) => u !== undefined) ? usage : undefined;
  }

  async start(): Promise<void> {
    this.#address = await this.#ctx.network.attach(this.#pod.spec.containers.flatMap((c) => (c.ports ?? []).map((p) => p.containerPort)));
    this.#podIP = this.#address.ip;
    for (const c of this.#pod.spec.containers) this.#waiting.set(c.name, { reason: 'ContainerCreating', message: '' });
    this.#markDirty();
    await this.#setup();
  }

  async #fetch(): Promise<{ secrets: Map<string, Secret>; configMaps: Map<string, ConfigMap> }> {
    const ns = this.#pod.metadata.namespace ?? 'default';
    const refs = referencedObjects(this.#pod);
    const secrets = new Map<string, Secret>();
    const configMaps = new Map<string, ConfigMap>();
    for (const name of refs.secrets) {
      const s = await this.#ctx.client.get(RESOURCES.secrets, SecretSchema, ns, name);
      if (s !== undefined) secrets.set(name, s);
    }
    for (const name of refs.configMaps) {
      const c = await this.#ctx.client.get(RESOURCES.configmaps, ConfigMapSchema, ns, name);
      if (c !== undefined) configMaps.set(name, c);
    }
    return { secrets, configMaps };
  }

  /** Prepares and starts every container not yet started; retries what failed, as the kubelet's sync loop does. */
  async #setup(): Promise<void> {
    if (this.#terminating || this.#podIP === undefined) return;
    const podIP = this.#podIP;
    let failed = false;
    try {
      const { secrets, configMaps } = await this.#fetch();
      const volumes = await materialiseVolumes(this.#pod, this.#dir, secrets, configMaps, path.join(this.#ctx.stateDir, 'claims'), this.#projection(podIP));
      this.#scheduleTokenRefresh(podIP);
      this.#initialized = true;
      for (const container of this.#pod.spec.containers) {
        if (this.#runners.some((r) => r.name === container.name) || this.#terminating) continue;
        const image = pull(this.#ctx.catalogue, container.image, container);
        if (!image.ok) {
          const seen = this.#waiting.get(container.name)?.reason === 'ErrImagePull';
          this.#waiting.set(container.name, { reason: seen ? 'ImagePullBackOff' : image.reason, message: image.message });
          if (seen) this.#event('Normal', 'BackOff', `Back-off pulling image "${container.image ?? ''}"`);
          else this.#event('Warning', 'Failed', `Failed to pull image "${container.image ?? ''}": ${image.message}`);
          failed = true;
          continue;
        }
        try {
          const mounts = mountsOf(container, volumes);
          const own = resolveEnv({ pod: this.#pod, container, podIP, hostIP: this.#ctx.hostIP, nodeAllocatable: this.#ctx.nodeAllocatable, secrets, configMaps });
          const api = this.#ctx.apiServer;
          const serviceEnv = api === undefined ? {} : { KUBERNETES_SERVICE_HOST: api.host, KUBERNETES_SERVICE_PORT: String(api.port), KUBERNETES_SERVICE_PORT_HTTPS: String(api.port) };
          const env: NodeJS.ProcessEnv = { ...this.#ctx.baseEnv, ...image.launch.env, ...serviceEnv, ...own };
          for (const [k, v] of Object.entries(env)) if (v !== undefined) env[k] = translatePath(v, mounts);
          // Sandbox artifact (docs/architecture.md): on the loopback network the pod binds its own address.
          env.IMAGE_SERVICE_HOST = podIP;
          const enter = this.#address?.enter ?? [];
          const launch = enter.length === 0 ? image.launch : { ...image.launch, command: enter[0] ?? '', args: [...enter.slice(1), image.launch.command, ...image.launch.args] };
          const runner = new ContainerRunner({
            container,
            launch,
            env,
            podIP,
            enter,
            logDir: path.join(this.#dir, 'logs', container.name),
            stateDir: this.#ctx.stateDir,
            restartPolicy: this.#pod.spec.restartPolicy ?? 'Always',
            graceMs: (this.#pod.spec.terminationGracePeriodSeconds ?? 30) * 1000,
            podUID: this.#pod.metadata.uid ?? this.#pod.metadata.name,
            onChange: () => this.#markDirty(),
            onEvent: (type, reason, message) => this.#event(type, reason, message),
          });
          this.#waiting.delete(container.name);
          this.#runners.push(runner);
          runner.start();
        } catch (err) {
          if (!(err instanceof ContainerConfigError)) throw err;
          this.#waiting.set(container.name, { reason: 'CreateContainerConfigError', message: err.message });
          this.#event('Warning', 'Failed', `Error: ${err.message}`);
          failed = true;
        }
      }
    } catch (err) {
      if (!(err instanceof ContainerConfigError)) this.#ctx.logger.warn({ pod: this.#pod.metadata.name, err: String(err) }, 'pod setup failed');
      for (const c of this.#pod.spec.containers) {
        if (!this.#runners.some((r) => r.name === c.name)) this.#waiting.set(c.name, { reason: 'CreateContainerConfigError', message: err instanceof Error ? err.message : String(err) });
      }
      failed = true;
    }
    this.#markDirty();
    if (failed && !this.#terminating) this.#retry = setTimeout(() => void this.#setup(), SETUP_RETRY_MS);
  }

  /** Tokens from the TokenRequest API, bound to this pod, as the kubelet's token manager asks for them. */
  #projection(podIP: string): Projection {
    const pod = this.#pod;
    const ns = pod.metadata.namespace ?? 'default';
    return {
      field: (fieldPath) => fieldValue(fieldPath, { pod, podIP, hostIP: this.#ctx.hostIP }),
      token: async (source) => {
        const request = {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenRequest',
          spec: {
            audiences: source.audience ? [source.audience] : [],
            expirationSeconds: source.expirationSeconds ?? 3600,
            boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod.metadata.name, uid: pod.metadata.uid },
          },
        };
        const sa = pod.spec.serviceAccountName ?? 'default';
        const answer = TokenRequestStatus.parse(await this.#ctx.client.request('POST', `${resourcePath(RESOURCES.serviceaccounts, ns, sa)}/token`, request));
        this.#refreshAt = Math.min(this.#refreshAt, tokenRefreshAt(Date.now(), Date.parse(answer.status.expirationTimestamp)));
        return Buffer.from(answer.status.token);
      },
    };
  }

  #scheduleTokenRefresh(podIP: string): void {
    clearTimeout(this.#tokenRefresh);
    if (this.#refreshAt === Infinity || this.#terminating) return;
    const due = this.#refreshAt;
    this.#refreshAt = Infinity;
    this.#tokenRefresh = setTimeout(() => void this.#refreshTokens(podIP), Math.min(Math.max(0, due - Date.now()), 2 ** 31 - 1));
  }

  /** Rewrites every projected token (each file replaced whole, so the container re-reads a complete one). */
  async #refreshTokens(podIP: string): Promise<void> {
    const ns = this.#pod.metadata.namespace ?? 'default';
    try {
      for (const v of this.#pod.spec.volumes ?? []) {
        const sources = v.projected?.sources ?? [];
        if (!sources.some((s) => s.serviceAccountToken !== undefined)) continue;
        await writeAtomically(path.join(this.#dir, 'volumes', v.name), await projectedFiles(sources, ns, new Map(), new Map(), this.#projection(podIP), 'tokens'));
      }
    } catch (err) {
      this.#ctx.logger.warn({ pod: this.#pod.metadata.name, err: String(err) }, 'token refresh failed');
      this.#refreshAt = Math.min(this.#refreshAt, Date.now() + SETUP_RETRY_MS);
    }
    this.#scheduleTokenRefresh(podIP);
  }

  #containerStatuses(): ContainerStatus[] {
    return this.#pod.spec.containers.map((c) => {
      const r = this.#runners.find((x) => x.name === c.name);
      if (r !== undefined) return r.status();
      const w = this.#waiting.get(c.name) ?? { reason: 'ContainerCreating', message: '' };
      return {
        name: c.name,
        image: c.image ?? '',
        imageID: '',
        ready: false,
        started: false,
        restartCount: 0,
        state: { waiting: w.message === '' ? { reason: w.reason } : w },
        lastState: {},
      };
    });
  }

  #markDirty(): void {
    if (this.#silent) return;
    this.#dirty = true;
    if (!this.#writing) void this.#flush();
  }

  /** Writes the status while it keeps changing; one write at a time, only when different. */
  async #flush(): Promise<void> {
    this.#writing = true;
    try {
      while (this.#dirty) {
        this.#dirty = false;
        await this.#writeStatus();
      }
    } finally {
      this.#writing = false;
    }
  }

  async #writeStatus(): Promise<void> {
    const { client } = this.#ctx;
    const ns = this.#pod.metadata.namespace ?? 'default';
    const name = this.#pod.metadata.name;
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        const live = await client.get(RESOURCES.pods, PodSchema, ns, name);
        if (live === undefined || live.metadata.uid !== this.#pod.metadata.uid) return;
        const status = buildPodStatus(
          {
            podIP: this.#podIP,
            hostIP: this.#ctx.hostIP,
            startTime: this.#startTime,
            containers: this.#containerStatuses(),
            initialized: this.#initialized,
            qosClass: qosClass(this.#pod.spec.containers),
            previous: live.status?.conditions ?? [],
            now: new Date().toISOString(),
          },
          !this.#terminating && this.#runners.some((r) => !r.done),
        );
        const text = JSON.stringify(status);
        if (text === this.#lastWritten && JSON.stringify(live.status?.conditions) === JSON.stringify(status.conditions)) return;
        await client.replace(RESOURCES.pods, ns, name, { ...live, status }, 'status');
        this.#lastWritten = text;
        return;
      } catch (err) {
        if (err instanceof ApiError && err.status === 409) continue;
        if ((err instanceof ApiError && err.status === 404) || this.#silent) return;
        this.#ctx.logger.warn({ pod: name, err: String(err) }, 'pod status write failed');
        return;
      }
    }
  }

  /** Stops every container (SIGTERM, grace, SIGKILL) and frees the pod's address and files. */
  async terminate(graceMs: number, nodeShutdown = false): Promise<void> {
    if (nodeShutdown) this.#silent = true;
    if (this.#terminating) return;
    this.#terminating = true;
    clearTimeout(this.#retry);
    clearTimeout(this.#tokenRefresh);
    await Promise.all(this.#runners.map((r) => r.stop(graceMs)));
    await this.#address?.release();
    await fs.rm(path.join(this.#dir, 'volumes'), { recursive: true, force: true });
  }
}
