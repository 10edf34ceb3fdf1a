// One container of a pod as a real process: its own process group and cgroup (the limits of
// `resources.limits`), stdout and stderr to a log file per run, probes, restarts with crash-loop
// back-off, OOMKilled when the kernel killed it for memory, and SIGTERM then SIGKILL on stop.
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { QuantityError } from '../../operator/src/api/quantities.ts';
import type { Container, Probe } from '../kube/types.ts';
import { forgetPid, recordPid } from '../pids.ts';
import { type BackoffState, FRESH, restartDelay } from './backoff.ts';
import type { Launch } from './catalogue.ts';
import { CgroupError, type CgroupSupport, type ContainerCgroup, createCgroup, limitsOf, nodeCgroups } from './cgroup.ts';
import { ContainerLogWriter } from './log.ts';
import { ProbeCounter, probeTiming, runProbe } from './probes.ts';

type State =
  | { waiting: { reason: string; message?: string } }
  | { running: { startedAt: string } }
  | { terminated: { exitCode: number; signal?: number; reason: string; message?: string; startedAt: string; finishedAt: string } };

export interface ContainerStatus {
  name: string;
  image: string;
  imageID: string;
  containerID?: string;
  ready: boolean;
  started: boolean;
  restartCount: number;
  state: State;
  lastState: State | Record<string, never>;
}

const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };

export interface ContainerOptions {
  container: Container;
  launch: Launch;
  env: NodeJS.ProcessEnv;
  podIP: string;
  /** The command prefix that enters the pod's network (empty: the host's); exec probes and hooks run in it too. */
  enter?: string[];
  logDir: string;
  stateDir: string;
  restartPolicy: string;
  graceMs: number;
  /** Names the container's cgroups. */
  podUID: string;
  /** Where cgroups can be made, or why not; default: what this process can do (nodeCgroups()). */
  cgroups?: CgroupSupport;
  onChange: () => void;
  /** Records a Kubernetes Event on the pod. */
  onEvent: (type: 'Normal' | 'Warning', reason: string, message: string) => void;
}

/** A container's cumulative CPU time and its memory working set now. */
export interface ContainerUsage {
  name: string;
  cpuSeconds: number;
  memoryBytes: number;
}

export class ContainerRunner {
  readonly #o: ContainerOptions;
  #child: ChildProcess | undefined;
  #state: State = { waiting: { reason: 'ContainerCreating' } };
  #lastState: State | Record<string, never> = {};
  #ready = false;
  #restartCount = 0;
  #backoff: BackoffState = FRESH;
  #startedAt = 0;
  #stopping = false;
  #timers = new Set<NodeJS.Timeout>();
  #exited: Promise<void> = Promise.resolve();
  #generation = 0;
  /** The cgroup of the run under way, while it runs. */
  #runCgroup: ContainerCgroup | undefined;

  constructor(options: ContainerOptions) {
    this.#o = options;
  }

  get name(): string {
    return this.#o.container.name;
  }

  /** Log file of the current run, or of the one before it. */
  logFile(previous: boolean): string {
    return path.join(this.#o.logDir, `${this.#restartCount - (previous ? 1 : 0)}.log`);
  }

  status(): ContainerStatus {
    const s: ContainerStatus = {
      name: this.name,
      image: this.#o.container.image ?? '',
      imageID: `sandbox://${this.#o.container.image ?? ''}`,
      ready: this.#ready,
      started: 'running' in this.#state,
      restartCount: this.#restartCount,
      state: this.#state,
      lastState: this.#lastState,
    };
    if (this.#child?.pid !== undefined) s.containerID = `sandbox://${this.#child.pid}`;
    return s;
  }

  get pid(): number | undefined {
    return this.#child?.exitCode === null ? this.#child.pid : undefined;
  }

  /** What the running container has used, from its cgroup's counters; undefined when it runs without one or not at all. */
  usage(): ContainerUsage | undefined {
    const cgroup = this.#runCgroup;
    if (cgroup === undefined || this.pid === undefined) return undefined;
    try {
      return { name: this.name, cpuSeconds: cgroup.cpu().usageSeconds, memoryBytes: cgroup.memoryWorkingSetBytes() };
    } catch {
      // the run ended and its cgroup went between the check and the read
      return undefined;
    }
  }

  /**
   * The cgroup of a new run, or undefined (with a Warning event) when none can be made: the sandbox
   * then runs the container without its limits rather than not at all (docs/sandbox.md).
   */
  #cgroup(generation: number): ContainerCgroup | undefined {
    const support = this.#o.cgroups ?? nodeCgroups();
    let reason: string;
    if (support.ok) {
      try {
        return createCgroup(support.layout, `imageops-${this.#o.podUID}-${this.name}-${generation}`, limitsOf(this.#o.container.resources?.limits), this.#o.stateDir);
      } catch (err) {
        if (!(err instanceof CgroupError || err instanceof QuantityError)) throw err;
        reason = err.message;
      }
    } else reason = support.reason;
    this.#o.onEvent('Warning', 'CgroupUnavailable', `resources.limits of container ${this.name} are not enforced: ${reason}`);
    return undefined;
  }

  start(): void {
    if (this.#stopping) return;
    const { launch } = this.#o;
    fs.mkdirSync(this.#o.logDir, { recursive: true });
    const generation = ++this.#generation;
    const cgroup = this.#cgroup(generation);
    this.#runCgroup = cgroup;
    const { command, args } = cgroup?.wrap(launch.command, launch.args) ?? launch;
    let child: ChildProcess;
    try {
      child = spawn(command, args, { cwd: launch.cwd, env: this.#o.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      this.#removeCgroup(cgroup);
      throw err;
    }
    const log = new ContainerLogWriter(this.logFile(false));
    if (child.stdout) log.attach(child.stdout);
    if (child.stderr) log.attach(child.stderr);
    this.#child = child;
    this.#startedAt = Date.now();
    const startedAt = new Date(this.#startedAt).toISOString();
    this.#ready = false;
    let resolveExit!: () => void;
    this.#exited = new Promise((r) => (resolveExit = r));
    child.once('error', (err) => {
      this.#removeCgroup(cgroup);
      this.#setState({ waiting: { reason: 'RunContainerError', message: err.message } });
      resolveExit();
    });
    child.once('spawn', () => {
      if (child.pid !== undefined) recordPid(this.#o.stateDir, child.pid);
      this.#o.onEvent('Normal', 'Pulled', `Container image "${this.#o.container.image ?? ''}" already present on machine`);
      this.#o.onEvent('Normal', 'Created', `Created container: ${this.name}`);
      this.#o.onEvent('Normal', 'Started', `Started container ${this.name}`);
      this.#setState({ running: { startedAt } });
      this.#startProbes(generation);
    });
    child.once('exit', (code, signal) => {
      if (child.pid !== undefined) forgetPid(this.#o.stateDir, child.pid);
      this.#ready = false;
      const exitCode = code ?? 128 + (SIGNALS[signal ?? ''] ?? 0);
      // As the runtime reports it: the kernel killed a process of the container for its memory limit.
      let oomKilled = false;
      try {
        oomKilled = cgroup !== undefined && cgroup.oomKills() > 0;
      } catch {
        // removed under us (the process is exiting and its exit hook cleaned up)
      }
      // The container's leftovers (children outside its process group too) go with its cgroup.
      this.#removeCgroup(cgroup);
      const terminated: State = {
        terminated: {
          exitCode,
          ...(signal !== null && SIGNALS[signal] !== undefined ? { signal: SIGNALS[signal] } : {}),
          reason: oomKilled ? 'OOMKilled' : exitCode === 0 ? 'Completed' : 'Error',
          startedAt,
          finishedAt: new Date().toISOString(),
        },
      };
      this.#setState(terminated);
      resolveExit();
      if (!this.#stopping && generation === this.#generation) this.#maybeRestart(exitCode);
    });
  }

  /** A cgroup that cannot be removed now stays recorded, for the next sandbox in this state dir. */
  #removeCgroup(cgroup: ContainerCgroup | undefined): void {
    if (this.#runCgroup === cgroup) this.#runCgroup = undefined;
    try {
      cgroup?.remove();
    } catch (err) {
      if (!(err instanceof CgroupError)) throw err;
      this.#o.onEvent('Warning', 'CgroupUnavailable', err.message);
    }
  }

  #maybeRestart(exitCode: number): void {
    const policy = this.#o.restartPolicy;
    if (policy === 'Never' || (policy === 'OnFailure' && exitCode === 0)) return;
    const { delayMs, next } = restartDelay(this.#backoff, Date.now() - this.#startedAt);
    this.#backoff = next;
    this.#lastState = this.#state;
    this.#restartCount += 1;
    if (delayMs === 0) {
      this.start();
      return;
    }
    this.#setState({
      waiting: { reason: 'CrashLoopBackOff', message: `back-off ${delayMs / 1000}s restarting failed container=${this.name}` },
    });
    this.#o.onEvent('Warning', 'BackOff', `Back-off restarting failed container ${this.name}`);
    this.#later(delayMs, () => this.start());
  }

  /** Terminated state for the pod's phase: true when the container will not run again. */
  get done(): boolean {
    return 'terminated' in this.#state && (this.#stopping || this.#o.restartPolicy === 'Never' || (this.#o.restartPolicy === 'OnFailure' && this.#state.terminated.exitCode === 0));
  }

  #setState(state: State): void {
    this.#state = state;
    this.#o.onChange();
  }

  #later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.#timers.delete(t);
      fn();
    }, ms);
    this.#timers.add(t);
  }

  #startProbes(generation: number): void {
    const { container, podIP, env, launch } = this.#o;
    const alive = (): boolean => generation === this.#generation && !this.#stopping && 'running' in this.#state;
    const readiness = container.readinessProbe;
    if (readiness === undefined) {
      this.#ready = true;
      this.#o.onChange();
    } else {
      const counter = new ProbeCounter(readiness, false);
      const t = probeTiming(readiness);
      const tick = async (): Promise<void> => {
        if (!alive()) return;
        const r = await runProbe(readiness, container, podIP, env, launch.cwd, this.#o.enter);
        if (!alive()) return;
        if (!r.ok) this.#o.onEvent('Warning', 'Unhealthy', `Readiness probe failed: ${r.message}`);
        const ready = counter.record(r.ok);
        if (ready !== this.#ready) {
          this.#ready = ready;
          this.#o.onChange();
        }
        this.#later(t.periodMs, () => void tick());
      };
      this.#later(t.initialDelayMs, () => void tick());
    }
    const liveness = container.livenessProbe;
    if (liveness !== undefined) {
      const counter = new ProbeCounter(liveness, true);
      const t = probeTiming(liveness);
      const tick = async (): Promise<void> => {
        if (!alive()) return;
        const r = await runProbe(liveness, container, podIP, env, launch.cwd, this.#o.enter);
        if (!alive()) return;
        if (!r.ok) this.#o.onEvent('Warning', 'Unhealthy', `Liveness probe failed: ${r.message}`);
        if (!counter.record(r.ok)) {
          this.#o.onEvent('Normal', 'Killing', `Container ${this.name} failed liveness probe, will be restarted`);
          // The kubelet kills a container that fails liveness, with its grace period; the exit restarts it.
          this.#signal('SIGTERM');
          this.#later(this.#o.graceMs, () => this.#signal('SIGKILL'));
          return;
        }
        this.#later(t.periodMs, () => void tick());
      };
      this.#later(t.initialDelayMs, () => void tick());
    }
  }

  #signal(signal: NodeJS.Signals, pid = this.pid): void {
    if (pid === undefined) return;
    try {
      process.kill(-pid, signal);
    } catch {
      try {
        process.kill(pid, signal);
      } catch {
        // already gone
      }
    }
  }

  /** The preStop hook, then SIGTERM, then SIGKILL when the grace period (which the hook shares) ends; resolves when the process has exited. */
  async stop(graceMs = this.#o.graceMs): Promise<void> {
    this.#stopping = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    if (this.pid === undefined) {
      if (!('terminated' in this.#state)) this.#setState({ waiting: { reason: 'Terminating' } });
      return;
    }
    const group = this.pid;
    const deadline = Date.now() + graceMs;
    this.#o.onEvent('Normal', 'Killing', `Stopping container ${this.name}`);
    const preStop = this.#o.container.lifecycle?.preStop;
    if (preStop !== undefined) {
      // A hook that outlasts the grace period is cut short, as the kubelet does.
      const hook: Probe = { ...preStop, timeoutSeconds: Math.max(1, Math.ceil(graceMs / 1000)) };
      await Promise.race([
        preStop.sleep !== undefined ? sleep(Math.min(preStop.sleep.seconds * 1000, graceMs)) : runProbe(hook, this.#o.container, this.#o.podIP, this.#o.env, this.#o.launch.cwd, this.#o.enter),
        this.#exited,
      ]);
    }
    this.#signal('SIGTERM');
    const kill = setTimeout(() => this.#signal('SIGKILL'), Math.max(0, deadline - Date.now()));
    await this.#exited;
    clearTimeout(kill);
    // Children of the container that outlived it die with its process group.
    this.#signal('SIGKILL', group);
  }
}
