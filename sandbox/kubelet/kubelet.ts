// The sandbox's node agent: registers its Node and keeps its Lease, watches pods through the API,
// runs each one bound to its node with a PodWorker, finishes graceful deletions (stop the
// containers, then delete with grace 0, as the real kubelet does) and serves container logs.
// Where no scheduler runs (the emulated control plane) it binds every unbound pod to itself.
import fs from 'node:fs';
import os from 'node:os';
import { realClock, sleep } from '../../operator/src/kube/clock.ts';
import { EventRecorder } from '../../operator/src/kube/events.ts';
import type { Informer } from '../../operator/src/kube/informer.ts';
import { ApiError, informer, RESOURCES, resourcePath, runInformers } from '../kube/client.ts';
import { type Pod, PodSchema } from '../kube/types.ts';
import type { ContainerUsage } from './container.ts';
import { LineCutter, type LogView, viewLines } from './log.ts';
import { machineUsage } from './machine.ts';
import { NodeAgent, nodeLabels } from './node.ts';
import { type NodeContext, PodWorker } from './pod.ts';
import { type KubeletServer, serveKubeletApi } from './server.ts';

export interface KubeletOptions extends Omit<NodeContext, 'nodeAllocatable' | 'baseEnv' | 'hostIP' | 'nodeName' | 'events'> {
  nodeName?: string;
  /** Longest grace the kubelet waits when the sandbox stops (pods' own grace applies to deletions). */
  shutdownGraceMs?: number;
  /** Bind unbound pods to this node (no scheduler runs). Default true. */
  schedule?: boolean;
  /** Serve the kubelet API (logs) over TLS with this certificate, for kube-apiserver to proxy to. */
  serving?: { cert: Buffer; key: Buffer };
}

export interface LogRequest {
  namespace: string;
  name: string;
  container?: string | undefined;
  previous?: boolean | undefined;
  tailLines?: number | undefined;
  timestamps?: boolean | undefined;
  sinceSeconds?: number | undefined;
}

const viewOf = (req: LogRequest): LogView => ({ timestamps: req.timestamps === true, since: req.sinceSeconds === undefined ? undefined : Date.now() - req.sinceSeconds * 1000 });

/** Thrown for a log request the real API server would refuse (400/404). */
export class LogError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = 'LogError';
    this.status = status;
  }
}

/** The node's usage (the machine's: its capacity is the machine's), for NodeMetrics. */
export interface NodeUsage {
  name: string;
  labels: Record<string, string>;
  cpuSeconds: number;
  memoryBytes: number;
}

export interface PodUsage {
  namespace: string;
  name: string;
  uid: string;
  labels: Record<string, string>;
  containers: ContainerUsage[];
}

export class Kubelet {
  readonly #ctx: NodeContext;
  readonly #informer: Informer<Pod>;
  #stopInformer: (() => Promise<void>) | undefined;
  readonly #workers = new Map<string, PodWorker>();
  readonly #deleting = new Set<string>();
  readonly #shutdownGraceMs: number;
  readonly #schedule: boolean;
  /** Where this kubelet also schedules, the Events a scheduler records. */
  readonly #scheduler: EventRecorder;
  readonly #serving: { cert: Buffer; key: Buffer } | undefined;
  #server: KubeletServer | undefined;
  #node: NodeAgent | undefined;
  #stopped = false;

  constructor(options: KubeletOptions) {
    this.#shutdownGraceMs = options.shutdownGraceMs ?? 5000;
    this.#schedule = options.schedule ?? true;
    this.#scheduler = new EventRecorder(options.client.transport, { component: 'default-scheduler', logger: options.logger });
    this.#serving = options.serving;
    this.#ctx = {
      ...options,
      nodeName: options.nodeName ?? 'sandbox',
      hostIP: '127.0.0.1',
      nodeAllocatable: { cpu: String(os.availableParallelism()), memory: String(os.totalmem()), 'ephemeral-storage': '100Gi' },
      baseEnv: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', LANG: process.env.LANG ?? 'C.UTF-8' },
      events: new EventRecorder(options.client.transport, { component: 'kubelet', logger: options.logger }),
    };
    // A kubelet may only list and watch the pods bound to its node (the Node authorizer); where
    // it is also the scheduler it must see the unbound ones too.
    const selector = this.#schedule ? undefined : `spec.nodeName=${this.#ctx.nodeName}`;
    this.#informer = informer(options.client, RESOURCES.pods, PodSchema, options.logger, selector);
    this.#informer.on({ add: (pod) => this.#sync('added', pod), update: (pod) => this.#sync('modified', pod), delete: (pod) => this.#sync('deleted', pod) });
  }

  get nodeName(): string {
    return this.#ctx.nodeName;
  }

  async start(): Promise<void> {
    if (this.#serving !== undefined) this.#server = await serveKubeletApi(this, this.#serving);
    this.#node = new NodeAgent(this.#ctx.client, { name: this.#ctx.nodeName, capacity: { ...this.#ctx.nodeAllocatable, pods: '110' }, kubeletPort: this.#server?.port ?? 0 }, this.#ctx.logger);
    await this.#node.start();
    this.#stopInformer = await runInformers([this.#informer]);
  }

  #sync(change: 'added' | 'modified' | 'deleted', pod: Pod): void {
    if (this.#stopped) return;
    const bound = pod.spec.nodeName ?? '';
    if (bound !== this.#ctx.nodeName && (bound !== '' || !this.#schedule)) return;
    const uid = pod.metadata.uid ?? `${pod.metadata.namespace}/${pod.metadata.name}`;
    let worker = this.#workers.get(uid);
    if (change === 'deleted') {
      if (worker !== undefined) void this.#remove(uid, worker, this.#graceMs(pod), false);
      return;
    }
    if (worker === undefined) {
      const phase = pod.status?.phase;
      if (pod.metadata.deletionTimestamp !== undefined || phase === 'Succeeded' || phase === 'Failed') {
        // Nothing runs for it here; let a graceful deletion finish.
        if (pod.metadata.deletionTimestamp !== undefined) void this.#forceDelete(pod);
        return;
      }
      worker = new PodWorker(pod, this.#ctx);
      this.#workers.set(uid, worker);
      void this.#bind(pod);
      worker.start().catch((err: unknown) => this.#ctx.logger.error({ pod: pod.metadata.name, err: String(err) }, 'pod start failed'));
      return;
    }
    worker.update(pod);
    if (pod.metadata.deletionTimestamp !== undefined) void this.#remove(uid, worker, this.#graceMs(pod), true);
  }

  #graceMs(pod: Pod): number {
    return (pod.metadata.deletionGracePeriodSeconds ?? pod.spec.terminationGracePeriodSeconds ?? 30) * 1000;
  }

  async #remove(uid: string, worker: PodWorker, graceMs: number, thenDelete: boolean): Promise<void> {
    if (this.#deleting.has(uid)) return;
    this.#deleting.add(uid);
    try {
      await worker.terminate(graceMs);
      if (thenDelete) await this.#forceDelete(worker.pod);
    } catch (err) {
      this.#ctx.logger.warn({ pod: worker.pod.metadata.name, err: String(err) }, 'pod termination failed');
    } finally {
      this.#workers.delete(uid);
      this.#deleting.delete(uid);
    }
  }

  async #forceDelete(pod: Pod): Promise<void> {
    const opts = pod.metadata.uid === undefined ? { gracePeriodSeconds: 0 } : { gracePeriodSeconds: 0, preconditionUid: pod.metadata.uid };
    await this.#ctx.client.delete(RESOURCES.pods, pod.metadata.namespace, pod.metadata.name, opts).catch((err: unknown) => {
      this.#ctx.logger.warn({ pod: pod.metadata.name, err: String(err) }, 'final pod delete failed');
    });
  }

  /**
   * The scheduler's job on a one-node cluster: bind every pod to this node at once, through the
   * pods/binding subresource as a real scheduler does, or, where the API server has none, by
   * setting spec.nodeName.
   */
  async #bind(pod: Pod): Promise<void> {
    if (pod.spec.nodeName !== undefined && pod.spec.nodeName !== '') return;
    const ns = pod.metadata.namespace ?? 'default';
    const name = pod.metadata.name;
    const binding = { apiVersion: 'v1', kind: 'Binding', metadata: { name, namespace: ns }, target: { apiVersion: 'v1', kind: 'Node', name: this.#ctx.nodeName } };
    const scheduled = (): void =>
      this.#scheduler.record({ apiVersion: 'v1', kind: 'Pod', metadata: pod.metadata }, 'Normal', 'Scheduled', `Successfully assigned ${ns}/${name} to ${this.#ctx.nodeName}`);
    try {
      await this.#ctx.client.request('POST', `${resourcePath(RESOURCES.pods, ns, name)}/binding`, binding);
      scheduled();
    } catch (err) {
      if (!(err instanceof ApiError && (err.status === 404 || err.status === 405))) {
        this.#ctx.logger.warn({ pod: name, err: String(err) }, 'binding failed');
        return;
      }
      await this.#ctx.client.mergePatch(RESOURCES.pods, ns, name, { metadata: { uid: pod.metadata.uid }, spec: { nodeName: this.#ctx.nodeName } }).then(scheduled, (e: unknown) => {
        this.#ctx.logger.warn({ pod: name, err: String(e) }, 'binding failed');
      });
    }
  }

  /** The resource usage of the pods running here, for the resource metrics API (sandbox/metrics/). */
  usage(): PodUsage[] {
    return [...this.#workers.values()].flatMap((w) => {
      const containers = w.usage();
      const m = w.pod.metadata;
      return containers === undefined ? [] : [{ namespace: m.namespace ?? 'default', name: m.name, uid: m.uid ?? '', labels: m.labels ?? {}, containers }];
    });
  }

  /** The node's usage now: the machine's (machine.ts); throws when /proc cannot be read. */
  nodeUsage(): NodeUsage {
    return { name: this.#ctx.nodeName, labels: nodeLabels(this.#ctx.nodeName), ...machineUsage() };
  }

  /** pids of every container process running now. */
  pids(): number[] {
    return [...this.#workers.values()].flatMap((w) => w.pids());
  }

  /** `kubectl logs -f`: the output so far, then what the container writes until it exits or the reader leaves. */
  async *follow(req: LogRequest, signal: AbortSignal): AsyncGenerator<Buffer> {
    const file = this.#runnerOf(req).logFile(false);
    const view = viewOf(req);
    const cutter = new LineCutter();
    let offset = 0;
    while (!signal.aborted) {
      let chunk: Buffer = Buffer.alloc(0);
      try {
        const fd = fs.openSync(file, 'r');
        try {
          const size = fs.fstatSync(fd).size;
          if (size > offset) {
            chunk = Buffer.alloc(size - offset);
            fs.readSync(fd, chunk, 0, chunk.length, offset);
            offset = size;
          }
        } finally {
          fs.closeSync(fd);
        }
      } catch {
        // not written yet
      }
      const lines = chunk.length > 0 ? viewLines(cutter.push(chunk), view) : [];
      if (lines.length > 0) yield Buffer.from(lines.map((l) => `${l}\n`).join(''));
      const runner = this.#worker(req)?.runner(req.container);
      if (runner === undefined || runner.pid === undefined) {
        if (chunk.length === 0) return;
        continue;
      }
      await sleep(realClock, 200, signal).catch(() => undefined);
    }
  }

  #worker(req: LogRequest): PodWorker | undefined {
    return [...this.#workers.values()].find((w) => w.pod.metadata.name === req.name && (w.pod.metadata.namespace ?? 'default') === req.namespace);
  }

  #runnerOf(req: LogRequest) {
    const worker = this.#worker(req);
    if (worker === undefined) throw new LogError(404, `pods "${req.name}" not found`);
    if (req.container === undefined && worker.containerNames.length > 1) {
      throw new LogError(400, `a container name must be specified for pod ${req.name}, choose one of: [${worker.containerNames.join(' ')}]`);
    }
    const runner = worker.runner(req.container);
    if (runner === undefined) {
      if (req.container !== undefined && !worker.containerNames.includes(req.container)) throw new LogError(400, `container ${req.container} is not valid for pod ${req.name}`);
      throw new LogError(400, `container "${req.container ?? worker.containerNames[0]}" in pod "${req.name}" is waiting to start: ContainerCreating`);
    }
    return runner;
  }

  /** `kubectl logs`: the container's output of its current (or previous) run. */
  logs(req: LogRequest): string {
    const runner = this.#runnerOf(req);
    let text: string;
    try {
      text = fs.readFileSync(runner.logFile(req.previous === true), 'utf8');
    } catch {
      if (req.previous === true) throw new LogError(400, `previous terminated container "${runner.name}" in pod "${req.name}" not found`);
      text = '';
    }
    const lines = viewLines(text, viewOf(req));
    return lines
      .slice(req.tailLines === undefined ? 0 : Math.max(0, lines.length - req.tailLines))
      .map((l) => `${l}\n`)
      .join('');
  }

  /** Stops every pod's containers (bounded grace) and the watch. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#node?.stop();
    await this.#server?.close();
    await this.#stopInformer?.();
    await Promise.all([...this.#workers.values()].map((w) => w.terminate(this.#shutdownGraceMs, true)));
    this.#workers.clear();
  }
}
