import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { bounded } from '../conditions.ts';
import { type KubeClient, type KubeObject, resources } from './client.ts';
import { type Clock, realClock } from './clock.ts';
import { NotFoundError } from './errors.ts';

/** The limit of an Event's note in events.k8s.io/v1, the same objects as core/v1 Events. */
export const MAX_EVENT_MESSAGE_LENGTH = 1024;

/**
 * Kubernetes Events (core/v1, what `kubectl describe` shows) on the objects we act on. Like
 * client-go's recorder, a repeat of the same event on the same object bumps `count` and
 * `lastTimestamp` of the existing Event instead of creating another; and recording never
 * blocks or fails a reconcile: Events are written in the background, errors only logged.
 */

export type EventType = 'Normal' | 'Warning';

export interface EventRecorderOptions {
  component?: string;
  /** This replica, as reportingInstance. */
  instance?: string;
  clock?: Clock;
  logger?: Logger;
  /** Distinct events remembered for de-duplication. */
  cacheSize?: number;
}

interface Seen {
  name: string;
  namespace: string;
  count: number;
  first: string;
}

export class EventRecorder {
  readonly #client: KubeClient;
  readonly #component: string;
  readonly #instance: string;
  readonly #clock: Clock;
  readonly #logger: Logger | undefined;
  readonly #cacheSize: number;
  readonly #seen = new Map<string, Seen>();
  #tail: Promise<void> = Promise.resolve();

  constructor(client: KubeClient, options: EventRecorderOptions = {}) {
    this.#client = client;
    this.#component = options.component ?? 'imageops-operator';
    this.#instance = options.instance ?? '';
    this.#clock = options.clock ?? realClock;
    this.#logger = options.logger;
    this.#cacheSize = options.cacheSize ?? 4096;
  }

  record(about: KubeObject, type: EventType, reason: string, full: string): void {
    const message = bounded(full, MAX_EVENT_MESSAGE_LENGTH);
    const involved = {
      apiVersion: about.apiVersion,
      kind: about.kind,
      name: about.metadata.name,
      namespace: about.metadata.namespace,
      uid: about.metadata.uid,
    };
    this.#logger?.info({ object: `${involved.namespace}/${involved.name}`, type, reason }, message);
    this.#tail = this.#tail.then(() =>
      this.#write(involved, type, reason, message).catch((err: unknown) => {
        this.#logger?.warn({ err: String(err), reason }, 'could not record event');
      }),
    );
  }

  /** Resolves when every event recorded so far has been written (or given up on). */
  flush(): Promise<void> {
    return this.#tail;
  }

  async #write(
    involved: { apiVersion?: string | undefined; kind?: string | undefined; name: string; namespace?: string | undefined; uid?: string | undefined },
    type: EventType,
    reason: string,
    message: string,
  ): Promise<void> {
    const key = [involved.uid ?? `${involved.namespace}/${involved.name}`, type, reason, message].join('\u0000');
    const now = new Date(this.#clock.now()).toISOString().replace(/\.\d+Z$/, 'Z');
    const namespace = involved.namespace ?? 'default';
    const seen = this.#seen.get(key);
    if (seen !== undefined) {
      this.#seen.delete(key);
      this.#seen.set(key, seen);
      try {
        seen.count++;
        await this.#client.mergePatch(resources.events, seen.namespace, seen.name, {
          count: seen.count,
          lastTimestamp: now,
        });
        return;
      } catch (err) {
        // the Event expired (the API server deletes them after an hour): start a new one
        if (!(err instanceof NotFoundError)) throw err;
      }
    }
    const name = `${involved.name}.${this.#clock.now().toString(16)}${randomBytes(2).toString('hex')}`;
    await this.#client.create(resources.events, {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name, namespace },
      involvedObject: involved,
      type,
      reason,
      message,
      count: 1,
      firstTimestamp: now,
      lastTimestamp: now,
      source: { component: this.#component },
      reportingComponent: this.#component,
      reportingInstance: this.#instance,
    });
    this.#seen.set(key, { name, namespace, count: 1, first: now });
    if (this.#seen.size > this.#cacheSize) {
      const oldest = this.#seen.keys().next();
      if (!oldest.done) this.#seen.delete(oldest.value);
    }
  }
}
