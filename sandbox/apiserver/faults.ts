import { type ApiError, internalError, tooManyRequests } from './errors.ts';

// Fault injection for tests of the clients (operator, controllers): failed requests, dropped
// watches, expired resourceVersions, latency; and request counts by verb, to prove a client
// makes no writes in a steady state.

export type Verb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete' | 'deletecollection';

export const WRITE_VERBS: readonly Verb[] = ['create', 'update', 'patch', 'delete', 'deletecollection'];

export type FailureSpec = {
  /** 500 (InternalError) or 429 (TooManyRequests with Retry-After). */
  code: 500 | 429;
  /** Seconds in the Retry-After header of a 429. */
  retryAfterSeconds?: number;
  /** Only requests with these verbs fail (and count); all API requests otherwise. */
  verbs?: Verb[];
  /** Only requests for this resource (plural, e.g. "deployments") fail. */
  resource?: string;
};

export type RequestCounts = {
  byVerb: Record<string, number>;
  /** `verb resource[/subresource]`, e.g. `patch deployments`, `update imageservices/status`. */
  byResource: Record<string, number>;
  writes: number;
  total: number;
};

/** The programmatic handle tests hold; the admin endpoint /_sandbox/ drives the same object. */
export class Faults {
  #failures: (FailureSpec & { remaining: number })[] = [];
  #latencyMs = 0;
  #latencyVerbs: Verb[] | undefined;
  #byVerb = new Map<string, number>();
  #byResource = new Map<string, number>();
  readonly #closeWatches: () => number;
  readonly #compact: () => void;

  constructor(hooks: { closeWatches: () => number; compact: () => void }) {
    this.#closeWatches = hooks.closeWatches;
    this.#compact = hooks.compact;
  }

  /** The next `count` matching API requests fail. */
  failNext(count: number, spec: FailureSpec = { code: 500 }): void {
    this.#failures.push({ ...spec, remaining: count });
  }

  /** Ends every open watch; returns how many were open. */
  closeWatches(): number {
    return this.#closeWatches();
  }

  /** Drops the watch history: resuming from any earlier resourceVersion now gets 410 Gone. */
  compact(): void {
    this.#compact();
  }

  /** Added before every API request (or those with the given verbs) is served. */
  setLatency(ms: number, verbs?: Verb[]): void {
    this.#latencyMs = Math.max(0, ms);
    this.#latencyVerbs = verbs;
  }

  latencyFor(verb: Verb): number {
    return !this.#latencyVerbs || this.#latencyVerbs.includes(verb) ? this.#latencyMs : 0;
  }

  counts(): RequestCounts {
    const byVerb = Object.fromEntries(this.#byVerb);
    const writes = WRITE_VERBS.reduce((n, v) => n + (this.#byVerb.get(v) ?? 0), 0);
    const total = [...this.#byVerb.values()].reduce((a, b) => a + b, 0);
    return { byVerb, byResource: Object.fromEntries(this.#byResource), writes, total };
  }

  resetCounts(): void {
    this.#byVerb.clear();
    this.#byResource.clear();
  }

  /** Clears injected failures and latency (counts stay). */
  clear(): void {
    this.#failures = [];
    this.#latencyMs = 0;
    this.#latencyVerbs = undefined;
  }

  /** Called for every API request: counts it and throws the injected failure, if any is due. */
  admit(verb: Verb, resource: string): void {
    this.#byVerb.set(verb, (this.#byVerb.get(verb) ?? 0) + 1);
    const key = `${verb} ${resource}`;
    this.#byResource.set(key, (this.#byResource.get(key) ?? 0) + 1);
    const base = resource.split('/')[0];
    const due = this.#failures.find((f) => f.remaining > 0 && (!f.verbs || f.verbs.includes(verb)) && (!f.resource || f.resource === base));
    if (!due) return;
    due.remaining--;
    this.#failures = this.#failures.filter((f) => f.remaining > 0);
    throw failure(due);
  }
}

function failure(spec: FailureSpec): ApiError {
  if (spec.code === 429) return tooManyRequests(spec.retryAfterSeconds ?? 1);
  return internalError('injected fault');
}
