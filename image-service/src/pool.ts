import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Registry } from 'prom-client';
import { z } from 'zod';
import { HttpError } from './errors.ts';
import { readGauge } from './metrics.ts';
import type { OutputFormat } from './negotiate.ts';
import type { ImageParams } from './params.ts';
import type { WorkLimits } from './transform.ts';

/**
 * Resizes in child processes that can be stopped at any point. libvips' kill flag is reachable
 * from Node only through sharp's timeout, and libaom's and libheif's single calls do not look at
 * it; a process can always be killed. So a costly resize (cost.ts, `isolated`) is sent to a
 * child, which is killed (SIGKILL) the moment its client leaves or its time limit passes.
 *
 * A child does one job and is then ended too: after one resize it holds tens of MiB of freed heap
 * that glibc keeps (docs/benchmarks.md, "The normal workload with children"), so a reused child would hold a worker's memory while the slot serves someone
 * else. A job's promise settles only once its child has exited, so its slot is released with its
 * CPU stopped and its memory returned. To keep the start (a Node process's, in CPU) off the next costly
 * request's path, a fresh child is started ahead when one is taken, up to one child per worker
 * slot in all (their runtimes are in the workers' reserve, cost.ts); an unused one exits after
 * IDLE_MS, so a service that gets no costly work runs none.
 */

export interface TransformJob {
  bytes: Buffer;
  params: ImageParams;
  format: OutputFormat;
  limits: WorkLimits;
  /** The `-drift` fault (IMAGE_SERVICE_INJECT_DRIFT); absent: off. */
  drift?: boolean;
}

/** What a child answers: the encoded image, or the HttpError its resize threw. */
export const ChildAnswerSchema = z.discriminatedUnion('ok', [
  z.object({ ok: z.literal(true), body: z.custom<Uint8Array>((value) => value instanceof Uint8Array) }),
  z.object({ ok: z.literal(false), status: z.number().int().min(400).max(599), code: z.string().max(64), message: z.string().max(4096) }),
]);
export type ChildAnswer = z.infer<typeof ChildAnswerSchema>;

const CHILD = fileURLToPath(new URL('./transform-child.ts', import.meta.url));
const IDLE_MS = 10_000;

export class TransformPool {
  readonly #size: number;
  /** Fresh children waiting for a job, with their idle timers. */
  readonly #ready = new Map<ChildProcess, NodeJS.Timeout>();
  readonly #busy = new Set<ChildProcess>();
  #started = 0;
  #killed = 0;

  /** `size`: the worker slots, so the most jobs at once. */
  constructor(size: number) {
    this.#size = size;
  }

  /** Children started since the pool was made. */
  get started(): number {
    return this.#started;
  }

  /** Children killed mid-job because their client left or their time was up. */
  get killed(): number {
    return this.#killed;
  }

  /** Children alive: working or ready. */
  get alive(): number {
    return this.#ready.size + this.#busy.size;
  }

  /**
   * Runs `job` in a fresh child and settles once the child has exited: with the image, with the
   * child's HttpError when the resize failed, with `signal`'s reason when it aborts (the child is
   * killed at once), with 422 `too_slow` a second after the time limit libvips itself should
   * have kept (the child is killed then).
   */
  run(job: TransformJob, signal: AbortSignal): Promise<Buffer> {
    if (signal.aborted) return Promise.reject(signal.reason as Error);
    const child = this.#take();
    return new Promise<Buffer>((resolve, reject) => {
      let settled = false;
      const finish = (outcome: () => void, midJob: boolean) => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        signal.removeEventListener('abort', onAbort);
        child.off('message', onMessage);
        child.off('exit', onExit);
        if (midJob) this.#killed++;
        const gone = () => {
          this.#busy.delete(child);
          outcome();
        };
        if (child.exitCode !== null || child.signalCode !== null) gone();
        else {
          child.once('exit', gone);
          child.kill('SIGKILL');
        }
      };
      const onAbort = () => finish(() => reject(signal.reason), true);
      const deadline = setTimeout(
        () => finish(() => reject(new HttpError(422, 'too_slow', `processing this image took longer than ${job.limits.timeoutSeconds} s (the service's limit), so it was stopped`)), true),
        (job.limits.timeoutSeconds + 1) * 1000,
      );
      const onExit = (code: number | null, exitSignal: NodeJS.Signals | null) =>
        finish(() => reject(new Error(`the transform process ended during a resize (${exitSignal ?? `exit ${code}`})`)), false);
      const onMessage = (message: unknown) => {
        const answer = ChildAnswerSchema.safeParse(message);
        if (!answer.success) finish(() => reject(new Error(`the transform process answered something else: ${answer.error.message}`)), false);
        else if (answer.data.ok) {
          const body = answer.data.body;
          finish(() => resolve(Buffer.from(body.buffer, body.byteOffset, body.byteLength)), false);
        } else {
          const { status, code, message: text } = answer.data;
          finish(() => reject(new HttpError(status, code, text)), false);
        }
      };
      signal.addEventListener('abort', onAbort, { once: true });
      child.on('message', onMessage);
      child.once('exit', onExit);
      child.once('error', (error) => finish(() => reject(error), false));
      child.send(job);
    });
  }

  registerMetrics(registry: Registry): void {
    const gauge = (name: string, help: string, read: () => number) => readGauge(registry, name, help, read);
    gauge('image_service_transform_children', 'Transform child processes alive (working or ready).', () => this.alive);
    gauge('image_service_transform_children_started', 'Transform child processes started since start.', () => this.#started);
    gauge('image_service_transform_children_killed', 'Transform children killed mid-job because their client left or their time limit passed, since start.', () => this.#killed);
  }

  /** Kills every child (the service is stopping). */
  close(): void {
    for (const timer of this.#ready.values()) clearTimeout(timer);
    for (const child of [...this.#ready.keys(), ...this.#busy]) child.kill('SIGKILL');
    this.#ready.clear();
  }

  #take(): ChildProcess {
    const [ready] = this.#ready;
    let child: ChildProcess;
    if (ready === undefined) child = this.#start();
    else {
      const [waiting, timer] = ready;
      clearTimeout(timer);
      this.#ready.delete(waiting);
      child = waiting;
    }
    this.#busy.add(child);
    child.ref();
    child.channel?.ref();
    if (this.#ready.size === 0 && this.alive < this.#size) this.#startAhead();
    return child;
  }

  #start(): ChildProcess {
    // Its environment is the service's: the same libvips threads and malloc settings.
    const child = fork(CHILD, [], { execArgv: ['--max-semi-space-size=1'], serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.#started++;
    child.on('error', () => child.kill('SIGKILL'));
    // A ready child that dies (the OOM killer) is never handed out.
    child.once('exit', () => {
      clearTimeout(this.#ready.get(child));
      this.#ready.delete(child);
    });
    return child;
  }

  /** A ready child does not keep the service's event loop alive. */
  #startAhead(): void {
    const child = this.#start();
    child.unref();
    child.channel?.unref();
    const timer = setTimeout(() => {
      this.#ready.delete(child);
      child.kill('SIGKILL');
    }, IDLE_MS);
    timer.unref();
    this.#ready.set(child, timer);
  }
}
