// A canary lab for the end-to-end tests and the canary benchmark: a sandbox (real image-service
// processes, the mesh, real Prometheus or none), the operator in its own process (`npm run
// operator`'s entry, killable), the claim of sample originals, and steady load through the mesh.
// Scenarios are short: one replica, a check every 2 s, three steps, three failed checks to roll
// back (the first check at a new weight can read "no data" through Prometheus, and a cold pod can
// miss the p99 once; two more would roll a healthy canary back).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { RESOURCES } from '../kube/client.ts';
import { PodSchema } from '../kube/types.ts';
import { isAlive } from '../pids.ts';
import { type ControlPlaneKind, type Sandbox, startSandbox } from '../sandbox.ts';
import { samplePaths, writeSampleImages } from './images.ts';
import { LoadGenerator } from './load.ts';
import { type OperatorProcess, startOperatorProcess } from './operator.ts';
import {
  applyImageService,
  deleteImageService,
  type Manifest,
  mergePatch,
  type Observed,
  observe,
  type Ref,
  routeWeights,
  setImage,
  settledIn,
  waitFor,
  waitForReady,
  waitForRoute,
} from './rollout.ts';

export const NAMESPACE = 'default';
export const OLD_IMAGE = 'imageops/image-service:1.0.0';
export const NEW_IMAGE = 'imageops/image-service:1.1.0';
export const CLAIM = 'image-originals';
export const INTERVAL_MS = 2_000;
export const STEPS = [10, 50, 100];
export const THRESHOLD = 3;
/** The SLOs the scenarios hold canaries to: a -slow tag adds 400 ms to every answer, a -broken one answers 75% with 5xx. */
export const LATENCY_SLO_MS = 300;
export const ERROR_SLO_PERCENT = 5;
/**
 * Steady load: 10% of it over one interval is 10 requests on average, and the weighted routing
 * gives fewer than MIN_REQUESTS about 0.3% of the time; little enough to leave the 2 CPUs room
 * (most answers come from the service's result cache).
 */
export const LOAD = { concurrency: 4, ratePerSecond: 50 };
export const MIN_REQUESTS = 3;

export interface Lab {
  sandbox: Sandbox;
  operator: OperatorProcess;
  stateDir: string;
  /** SIGKILLs the operator (if running) and starts a new one. */
  restartOperator(): Promise<void>;
  /** SIGKILLs the operator and waits a moment before starting it again. */
  killOperator(): Promise<void>;
  startOperator(): Promise<void>;
  /** Stops Prometheus, as if its server went away. */
  stopPrometheus(): Promise<void>;
  /** ImageServices deployed and not yet retired. */
  deployed: Ref[];
  /** Deletes every deployed ImageService (its pods go with it), so the next scenario has the CPUs. */
  retire(): Promise<void>;
  stop(): Promise<void>;
}

/** `operatorEnv`: more of the operator's environment (an installer's settings), for every start of it. */
export async function startLab(prometheus: 'required' | 'off', controlPlane?: ControlPlaneKind, operatorEnv: NodeJS.ProcessEnv = {}): Promise<Lab> {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'imageops-canary-'));
  // The sandbox's own warnings go to stderr, so a benchmark's stdout is only its table.
  const logger = pino({ level: process.env['SANDBOX_LOG_LEVEL'] ?? 'warn' }, pino.destination(2));
  const sandbox = await startSandbox({ stateDir, prometheus, logger, ...(controlPlane ? { controlPlane } : {}) });
  let operator: OperatorProcess | undefined;
  try {
    await writeSampleImages(await sandbox.claim(NAMESPACE, CLAIM));
    operator = await startOperatorProcess(sandbox, { LOG_LEVEL: 'info', ...operatorEnv });
  } catch (err) {
    await sandbox.stop();
    throw err;
  }
  const lab: Lab = {
    sandbox,
    operator,
    stateDir,
    deployed: [],
    async retire() {
      const refs = lab.deployed.splice(0);
      for (const ref of refs) await deleteImageService(sandbox.client, ref);
      // Garbage collection takes the Deployments, then their pods; wait until the processes are gone.
      const names = new Set(refs.map((r) => r.name));
      await waitFor(
        "the retired ImageServices' pods to be gone",
        async () => (await sandbox.client.list(RESOURCES.pods, PodSchema, NAMESPACE)).items.every((p) => !names.has(p.metadata.labels?.['app.kubernetes.io/instance'] ?? '')),
        30_000,
      );
    },
    async killOperator() {
      await lab.operator.kill();
    },
    async startOperator() {
      lab.operator = await startOperatorProcess(sandbox, { LOG_LEVEL: 'info', ...operatorEnv });
    },
    async restartOperator() {
      await lab.killOperator();
      await lab.startOperator();
    },
    async stopPrometheus() {
      const pid = sandbox.pids().find((p) => {
        try {
          return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('--config.file');
        } catch {
          return false;
        }
      });
      if (pid === undefined) throw new Error('no Prometheus process in this sandbox');
      process.kill(pid, 'SIGTERM');
      await waitFor('Prometheus to exit', async () => !isAlive(pid), 15_000);
    },
    async stop() {
      await lab.operator.stop();
      await sandbox.stop();
      const left = sandbox.pids();
      fs.rmSync(stateDir, { recursive: true, force: true });
      if (left.length > 0) throw new Error(`processes left after the sandbox stopped: ${left.join(', ')}`);
    },
  };
  return lab;
}

export interface ScenarioSpec {
  canary?: Record<string, unknown>;
  analysis?: Record<string, unknown>;
}

/** A one-replica ImageService with the scenarios' canary policy, `extra` merged over it. */
export function imageService(name: string, extra: ScenarioSpec = {}): Manifest {
  const base: Manifest = {
    apiVersion: 'imageops.dev/v1alpha1',
    kind: 'ImageService',
    metadata: { name, namespace: NAMESPACE },
    spec: {
      image: 'imageops/image-service:1.0.0',
      replicas: 1,
      source: { file: { claimName: CLAIM } },
      env: [{ name: 'IMAGE_SERVICE_LOG_LEVEL', value: 'warn' }],
      canary: {
        interval: `${INTERVAL_MS / 1000}s`,
        stepWeights: STEPS,
        threshold: THRESHOLD,
        progressDeadlineSeconds: 60,
        analysis: { latencyP99Ms: LATENCY_SLO_MS, errorRatePercent: ERROR_SLO_PERCENT, minRequests: MIN_REQUESTS },
      },
    },
  };
  return mergePatch(base, { spec: { canary: { ...extra.canary, ...(extra.analysis ? { analysis: extra.analysis } : {}) } } });
}

export function hostOf(ref: Ref): string {
  return `${ref.name}.${ref.namespace}.svc.cluster.local`;
}

/**
 * Applies the ImageService and waits until it is Initialized and Ready and its route answers
 * `routePath` through the mesh (a signed one for a service with signed URLs).
 */
export async function deploy(lab: Lab, manifest: Manifest, routePath = '/image/files/badge.png?w=32'): Promise<Ref> {
  const ref = await applyImageService(lab.sandbox.client, manifest);
  lab.deployed.push(ref);
  await waitForReady(lab.sandbox.client, ref, ['Initialized'], 60_000);
  await waitForRoute(lab.sandbox.mesh, hostOf(ref), routePath, 20_000);
  return ref;
}

/** Steady load on the ImageService's in-mesh host, round-robin over `paths`; stops by itself after `maxMs`. */
export function startLoad(lab: Pick<Lab, 'sandbox'>, ref: Ref, maxMs = 120_000, ratePerSecond = LOAD.ratePerSecond, paths: readonly string[] = samplePaths()): LoadGenerator {
  const load = new LoadGenerator({ target: lab.sandbox.mesh, host: hostOf(ref), paths, concurrency: LOAD.concurrency, ratePerSecond, maxDurationMs: maxMs });
  load.start();
  return load;
}

/** One observation of the rollout: the status and the route's weights. */
export interface Sample {
  at: number;
  phase: string | undefined;
  statusWeight: number | undefined;
  route: { primary: number; canary: number } | undefined;
}

/** Records the rollout every 100 ms while `until` has not settled. */
export class Recorder {
  readonly samples: Sample[] = [];
  readonly #lab: Pick<Lab, 'sandbox'>;
  readonly #ref: Ref;
  #last: Observed | undefined;

  constructor(lab: Pick<Lab, 'sandbox'>, ref: Ref) {
    this.#lab = lab;
    this.#ref = ref;
  }

  get last(): Observed | undefined {
    return this.#last;
  }

  /** Polls until the status settles in one of `phases` (for the current generation); returns it. */
  async until(phases: Parameters<typeof settledIn>[1], timeoutMs: number, stopEarly?: (o: Observed) => boolean): Promise<Observed> {
    return waitFor(
      `${this.#ref.name} to reach ${phases.join(' or ')}`,
      async () => {
        const o = await observe(this.#lab.sandbox.client, this.#ref);
        const route = await routeWeights(this.#lab.sandbox.client, this.#ref);
        this.#last = o;
        this.samples.push({ at: Date.now(), phase: o?.status.phase, statusWeight: o?.status.canaryWeight, route });
        if (o !== undefined && stopEarly?.(o) === true) return o;
        return settledIn(o, phases) ? o : undefined;
      },
      timeoutMs,
      100,
      () => `phase ${this.#last?.status.phase ?? '-'}, weight ${this.#last?.status.canaryWeight ?? '-'}, ${JSON.stringify(this.#last?.status.message ?? '')}`,
    );
  }

  /** The distinct canary weights the route (VirtualService or HTTPRoute) carried, in order. */
  routedWeights(): number[] {
    const out: number[] = [];
    for (const s of this.samples) {
      const w = s.route?.canary;
      if (w !== undefined && out[out.length - 1] !== w) out.push(w);
    }
    return out;
  }

  phases(): string[] {
    const out: string[] = [];
    for (const s of this.samples) if (s.phase !== undefined && out[out.length - 1] !== s.phase) out.push(s.phase);
    return out;
  }
}

/** Changes the image and returns a recorder following the rollout from then. */
export async function changeImage(lab: Lab, ref: Ref, image: string): Promise<Recorder> {
  await setImage(lab.sandbox.client, ref, image);
  return new Recorder(lab, ref);
}

/** Longest a scenario's rollout may take: canary start, every step, promotion, with room for a loaded CI machine. */
export const ROLLOUT_TIMEOUT_MS = 90_000;
