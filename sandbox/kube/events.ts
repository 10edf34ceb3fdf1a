// Kubernetes Events (core/v1) as the controllers and the kubelet record them, so that `kubectl
// describe` and `kubectl get events` tell what happened. A repeat of the same event on the same
// object bumps its count instead of adding a new one, as client-go's recorder does.
import type { Logger } from 'pino';
import { ApiError, type KubeClient, RESOURCES } from './client.ts';

export interface EventTarget {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string | undefined; uid?: string | undefined };
}

const REPEAT_WINDOW_MS = 10 * 60_000;

export class EventRecorder {
  readonly #client: KubeClient;
  readonly #component: string;
  readonly #logger: Logger | undefined;
  readonly #seen = new Map<string, { name: string; count: number; at: number }>();

  constructor(client: KubeClient, component: string, logger?: Logger) {
    this.#client = client;
    this.#component = component;
    this.#logger = logger;
  }

  /** Records an event; never throws (an event lost is not worth failing the caller). */
  emit(target: EventTarget, type: 'Normal' | 'Warning', reason: string, message: string, component = this.#component): void {
    void this.#emit(target, type, reason, message, component).catch((err: unknown) => this.#logger?.debug({ reason, err: String(err) }, 'event not recorded'));
  }

  async #emit(target: EventTarget, type: string, reason: string, message: string, component: string): Promise<void> {
    const ns = target.metadata.namespace ?? 'default';
    const key = `${target.metadata.uid ?? `${ns}/${target.metadata.name}`}|${type}|${reason}|${message}`;
    const now = new Date();
    const prev = this.#seen.get(key);
    if (prev !== undefined && now.getTime() - prev.at < REPEAT_WINDOW_MS) {
      prev.count += 1;
      prev.at = now.getTime();
      try {
        await this.#client.mergePatch(RESOURCES.events, ns, prev.name, { count: prev.count, lastTimestamp: now.toISOString() });
        return;
      } catch (err) {
        if (!(err instanceof ApiError && err.status === 404)) throw err;
      }
    }
    if (this.#seen.size > 5000) this.#seen.clear();
    const created = await this.#client.create(RESOURCES.events, ns, {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { generateName: `${target.metadata.name}.`, namespace: ns },
      involvedObject: { apiVersion: target.apiVersion, kind: target.kind, name: target.metadata.name, namespace: ns, uid: target.metadata.uid },
      reason,
      message,
      type,
      source: { component, host: 'sandbox' },
      reportingComponent: component,
      reportingInstance: 'sandbox',
      firstTimestamp: now.toISOString(),
      lastTimestamp: now.toISOString(),
      count: 1,
    });
    const name = (created.metadata as { name?: string } | undefined)?.name;
    if (name !== undefined) this.#seen.set(key, { name, count: 1, at: now.getTime() });
  }
}
