import type { Logger } from 'pino';
import { z } from 'zod';
import { type KubeClient, type KubeObject, resources } from './client.ts';
import { type Clock, realClock, sleep, type Timer } from './clock.ts';
import { ConflictError, NotFoundError } from './errors.ts';

/**
 * Leader election on a coordination.k8s.io/v1 Lease, with client-go's rules:
 * - a candidate takes the lease when it is free (no holder) or its holder has not renewed for
 *   leaseDuration, measured on our own clock from when we last saw the record change (so
 *   clock skew between replicas does not matter);
 * - the leader renews every retryPeriod; when no renewal succeeded for renewDeadline
 *   (< leaseDuration) it stops leading at once: its signal aborts, cancelling in-flight
 *   reconciles, before anyone else may take the lease;
 * - on shutdown the leader releases the lease (empty holder) so a standby takes over at once.
 * Every write carries the lease's resourceVersion: two candidates never both win.
 */

export interface LeaderElectorOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  clock?: Clock;
  logger?: Logger;
}

export interface LeaderCallbacks {
  /** Called on gaining the lease; `leading` aborts the moment leadership ends. */
  onStartedLeading(leading: AbortSignal): void;
  /** Called when leadership ends; awaited before the lease is released on shutdown. */
  onStoppedLeading(): Promise<void> | void;
}

const LeaseSpec = z.looseObject({
  holderIdentity: z.string().nullish(),
  leaseDurationSeconds: z.number().nullish(),
  acquireTime: z.string().nullish(),
  renewTime: z.string().nullish(),
  leaseTransitions: z.number().nullish(),
});
type LeaseSpec = z.infer<typeof LeaseSpec>;

function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/Z$/, '000Z');
}

export class LeaderElector {
  readonly #client: KubeClient;
  readonly #namespace: string;
  readonly #name: string;
  readonly identity: string;
  readonly #leaseDurationMs: number;
  readonly #renewDeadlineMs: number;
  readonly #retryPeriodMs: number;
  readonly #clock: Clock;
  readonly #logger: Logger | undefined;

  /** The last record seen, and when (on our clock) it last changed. */
  #observed: { holder: string; renewTime: string; at: number } | undefined;

  constructor(client: KubeClient, options: LeaderElectorOptions) {
    this.#client = client;
    this.#namespace = options.namespace;
    this.#name = options.name;
    this.identity = options.identity;
    this.#leaseDurationMs = options.leaseDurationMs ?? 15_000;
    this.#renewDeadlineMs = options.renewDeadlineMs ?? Math.round((this.#leaseDurationMs * 2) / 3);
    this.#retryPeriodMs = options.retryPeriodMs ?? Math.max(100, Math.round(this.#leaseDurationMs / 7.5));
    if (this.#renewDeadlineMs >= this.#leaseDurationMs) {
      throw new Error('leader election: renewDeadline must be shorter than leaseDuration');
    }
    this.#clock = options.clock ?? realClock;
    this.#logger = options.logger?.child({ lease: `${options.namespace}/${options.name}` });
  }

  /** Holds elections until the signal aborts; then stops leading and releases the lease. */
  async run(signal: AbortSignal, callbacks: LeaderCallbacks): Promise<void> {
    while (!signal.aborted) {
      if (!(await this.#tryAcquireOrRenew(signal))) {
        await sleep(this.#clock, this.#retryPeriodMs * (1 + Math.random() * 0.2), signal).catch(() => undefined);
        continue;
      }
      const leading = new AbortController();
      this.#logger?.info({ identity: this.identity }, 'became leader');
      let lostAt: Timer = this.#clock.setTimer(this.#renewDeadlineMs, () => leading.abort(new Error('lease not renewed')));
      callbacks.onStartedLeading(leading.signal);
      const stop = AbortSignal.any([signal, leading.signal]);
      while (!stop.aborted) {
        await sleep(this.#clock, this.#retryPeriodMs, stop).catch(() => undefined);
        if (stop.aborted) break;
        if (await this.#tryAcquireOrRenew(stop)) {
          lostAt.cancel();
          lostAt = this.#clock.setTimer(this.#renewDeadlineMs, () => leading.abort(new Error('lease not renewed')));
        }
      }
      lostAt.cancel();
      const lost = leading.signal.aborted;
      leading.abort(new Error('stopped leading'));
      if (lost) this.#logger?.warn({ identity: this.identity }, 'lost the lease: stopped acting');
      await callbacks.onStoppedLeading();
      if (!lost) await this.#release();
    }
  }

  async #tryAcquireOrRenew(signal: AbortSignal): Promise<boolean> {
    const now = this.#clock.now();
    const requestSignal = AbortSignal.any([signal, AbortSignal.timeout(this.#renewDeadlineMs)]);
    try {
      let lease: KubeObject;
      try {
        lease = await this.#client.get(resources.leases, this.#namespace, this.#name, requestSignal);
      } catch (err) {
        if (!(err instanceof NotFoundError)) throw err;
        await this.#client.create(
          resources.leases,
          {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { name: this.#name, namespace: this.#namespace },
            spec: this.#spec(now, now, 0),
          },
          requestSignal,
        );
        this.#observed = { holder: this.identity, renewTime: microTime(now), at: now };
        return true;
      }
      const spec = LeaseSpec.parse(lease['spec'] ?? {});
      const holder = spec.holderIdentity ?? '';
      const renewTime = spec.renewTime ?? '';
      if (this.#observed?.holder !== holder || this.#observed.renewTime !== renewTime) {
        this.#observed = { holder, renewTime, at: now };
      }
      const duration = (spec.leaseDurationSeconds ?? this.#leaseDurationMs / 1000) * 1000;
      const mine = holder === this.identity;
      if (holder !== '' && !mine && this.#observed.at + duration > now) return false;
      const transitions = (spec.leaseTransitions ?? 0) + (mine ? 0 : 1);
      const acquired = mine && spec.acquireTime ? Date.parse(spec.acquireTime) : now;
      const updated = await this.#client.replace(resources.leases, { ...lease, spec: this.#spec(acquired, now, transitions) }, requestSignal);
      this.#observed = { holder: this.identity, renewTime: microTime(now), at: now };
      return updated.metadata.resourceVersion !== undefined;
    } catch (err) {
      if (!(err instanceof ConflictError) && !signal.aborted) {
        this.#logger?.warn({ err: String(err) }, 'lease acquire/renew failed');
      }
      return false;
    }
  }

  #spec(acquireMs: number, renewMs: number, transitions: number): LeaseSpec {
    return {
      holderIdentity: this.identity,
      leaseDurationSeconds: Math.ceil(this.#leaseDurationMs / 1000),
      acquireTime: microTime(acquireMs),
      renewTime: microTime(renewMs),
      leaseTransitions: transitions,
    };
  }

  /** Gives the lease up so that a standby need not wait for it to expire. */
  async #release(): Promise<void> {
    try {
      const lease = await this.#client.get(resources.leases, this.#namespace, this.#name, AbortSignal.timeout(5000));
      const spec = LeaseSpec.parse(lease['spec'] ?? {});
      if (spec.holderIdentity !== this.identity) return;
      const now = this.#clock.now();
      await this.#client.replace(
        resources.leases,
        {
          ...lease,
          spec: {
            holderIdentity: '',
            leaseDurationSeconds: 1,
            acquireTime: microTime(now),
            renewTime: microTime(now),
            leaseTransitions: spec.leaseTransitions ?? 0,
          },
        },
        AbortSignal.timeout(5000),
      );
      this.#logger?.info({ identity: this.identity }, 'released the lease');
    } catch (err) {
      this.#logger?.warn({ err: String(err) }, 'could not release the lease; it expires by itself');
    }
  }
}
