import { fork, type ChildProcess } from 'node:child_process';
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
 * child, which is killed (SIGKILL) the moment its client leaves or its time limit passes, and
 * the slot is released only once the child has exited, that is, once its CPU has stopped. At
 * most one child per worker slot exists (admission bounds the callers); an idle child is reused,
 * and exits after IDLE_MS without work, so a service that never gets costly work runs none.
 */

export interface TransformJob {
  bytes: Buffer;
  params: ImageParams;
  format: OutputFormat;
  limits: WorkLimits;
}

/** What a child answers: the encoded image, or the HttpError its resize threw. */
export const ChildAnswerSchema = z.discriminatedUnion('ok', [
  z.object({ ok: z.literal(true), body: z.custom<Uint8Array>((value) => value instanceof Uint8Array) }),
  z.object({ ok: z.literal(false), status: z.number().int().min(400).max(599), code: z.string().max(64), message: z.string().max(4096) }),
]);
export type ChildAnswer = z.infer<typeof ChildAnswerSchema>;

const CHILD = fileURLToPath(new URL('./transform-child.ts', import.meta.url));
/** An idle child costs memory (cost.ts, CHILD_BYTES) and saves a start (~60 ms of CPU) per costly request. */
const IDLE_MS = 10_000;

export class TransformPool {
  readonly #idle = new Map<ChildProcess, NodeJS.Timeout>();
  readonly #busy = new Set<ChildProcess>();
  #started = 0;
  #killed = 0;

  /** Children started since the pool was made (a metric and the tests' proof of reuse). */
  get started(): number {
    return this.#started;
  }

  /** Children killed because their client left or their time was up. */
  get killed(): number {
    return this.#killed;
  }

  /** Children alive: busy or idle. */
  get alive(): number {
    return this.#idle.size + this.#busy.size;
  }

  /**
   * Runs `job` in a child. Rejects with `signal`'s reason once the child is dead when the signal
   * aborts, with 422 `too_slow` (child killed) a second after the time limit libvips itself
   * should have kept, with the child's HttpError when its resize failed.
   */
  run(job: TransformJob, signal: AbortSignal): Promise<Buffer> {
    if (signal.aborted) return Promise.reject(signal.reason as Error);
    const child = this.#take();
    return new Promise<Buffer>((resolve, reject) => {
      let settled = false;
      const finish = (outcome: () => void, kill: boolean) => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        signal.removeEventListener('abort', onAbort);
        child.off('message', onMessage);
        if (!kill) {
          child.off('exit', onExit);
          this.#busy.delete(child);
          if (child.exitCode === null && child.signalCode === null) this.#park(child);
          outcome();
          return;
        }
        this.#killed++;
        if (child.exitCode !== null || child.signalCode !== null) {
          this.#busy.delete(child);
          outcome();
          return;
        }
        // The slot is freed when the child is gone: its CPU has stopped by then.
        child.once('exit', () => {
          this.#busy.delete(child);
          outcome();
        });
        child.kill('SIGKILL');
      };
      const onAbort = () => finish(() => reject(signal.reason), true);
      const deadline = setTimeout(
        () => finish(() => reject(new HttpError(422, 'too_slow', `processing this image took longer than ${job.limits.timeoutSeconds} s (the service's limit), so it was stopped`)), true),
        (job.limits.timeoutSeconds + 1) * 1000,
      );
      const onExit = (code: number | null, exitSignal: NodeJS.Signals | null) => {
        this.#busy.delete(child);
        finish(() => reject(new Error(`the transform process ended during a resize (${exitSignal ?? `exit ${code}`})`)), false);
      };
      const onMessage = (message: unknown) => {
        const answer = ChildAnswerSchema.safeParse(message);
        if (!answer.success) finish(() => reject(new Error(`the transform process answered something else: ${answer.error.message}`)), true);
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
      child.once('error', (error) => finish(() => reject(error), true));
      child.send(job);
    });
  }

  registerMetrics(registry: Registry): void {
    const gauge = (name: string, help: string, read: () => number) => readGauge(registry, name, help, read);
    gauge('image_service_transform_children', 'Transform child processes alive (busy or idle).', () => this.alive);
    gauge('image_service_transform_children_started', 'Transform child processes started since start.', () => this.#started);
    gauge('image_service_transform_children_killed', 'Transform children killed because their client left or their time limit passed, since start.', () => this.#killed);
  }

  /** Kills every child (the service is stopping). */
  close(): void {
    for (const child of [...this.#idle.keys(), ...this.#busy]) child.kill('SIGKILL');
    for (const timer of this.#idle.values()) clearTimeout(timer);
    this.#idle.clear();
  }

  #take(): ChildProcess {
    for (const [child, timer] of this.#idle) {
      clearTimeout(timer);
      this.#idle.delete(child);
      this.#busy.add(child);
      child.ref();
      child.channel?.ref();
      return child;
    }
    // Its environment is the service's: the same libvips threads and malloc settings.
    const child = fork(CHILD, [], { execArgv: ['--max-semi-space-size=1'], serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.#started++;
    child.on('error', () => child.kill('SIGKILL'));
    // An idle child that dies (the OOM killer, a lost parent channel) is never handed out.
    child.once('exit', () => {
      clearTimeout(this.#idle.get(child));
      this.#idle.delete(child);
    });
    this.#busy.add(child);
    return child;
  }

  /** An idle child does not keep the service's event loop alive. */
  #park(child: ChildProcess): void {
    child.unref();
    child.channel?.unref();
    const timer = setTimeout(() => {
      this.#idle.delete(child);
      child.kill('SIGKILL');
    }, IDLE_MS);
    timer.unref();
    this.#idle.set(child, timer);
  }
}
