// A steady, bounded load through the mesh: a fixed number of keep-alive connections, each sending
// one request after another (optionally paced to a total rate), loopback only, until stopped or
// until its time is up. It counts what a client of the service would notice: answers by status,
// transport failures, and latency, in total and since any mark (e.g. "during promotion").
import http from 'node:http';
import net from 'node:net';

export interface LoadOptions {
  /** The mesh's address, e.g. http://127.0.0.1:15001. Only loopback addresses are accepted. */
  target: string;
  /** The Host header: the service's in-mesh name, e.g. thumbs.default.svc.cluster.local. */
  host: string;
  /** Request paths, used round-robin. */
  paths: readonly string[];
  /** Connections, each with one request in flight at a time. */
  concurrency: number;
  /** Total requests per second over all connections; absent: as fast as answered. */
  ratePerSecond?: number;
  /** The load stops by itself after this long (a safety bound; stop() ends it sooner). */
  maxDurationMs: number;
  /** Per-request timeout. */
  timeoutMs?: number;
}

export interface LoadCounts {
  requests: number;
  /** Answers below 400. */
  ok: number;
  /** 5xx answers, 4xx answers and transport errors (reset, timeout): requests a user saw fail. */
  failed: number;
  byStatus: Record<string, number>;
  /** Latencies of the requests counted, in ms, for percentiles. */
  p50Ms: number | undefined;
  p99Ms: number | undefined;
}

export class LoadError extends Error {
  override name = 'LoadError';
}

interface Sample {
  status: string;
  ms: number;
  /** When it finished (performance.now()). */
  at: number;
}

/** The p-quantile (0..1) of sorted values, nearest rank. */
export function quantile(sorted: readonly number[], p: number): number | undefined {
  if (sorted.length === 0) return undefined;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[rank];
}

export function summarise(samples: readonly Pick<Sample, 'status' | 'ms'>[]): LoadCounts {
  const byStatus: Record<string, number> = {};
  let ok = 0;
  for (const s of samples) {
    byStatus[s.status] = (byStatus[s.status] ?? 0) + 1;
    if (/^[123]\d\d$/.test(s.status)) ok++;
  }
  const sorted = samples.map((s) => s.ms).sort((a, b) => a - b);
  return { requests: samples.length, ok, failed: samples.length - ok, byStatus, p50Ms: quantile(sorted, 0.5), p99Ms: quantile(sorted, 0.99) };
}

function isLoopback(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '');
  if (h === 'localhost') return true;
  if (net.isIPv4(h)) return h.startsWith('127.');
  return h === '::1';
}

export class LoadGenerator {
  readonly #options: LoadOptions;
  readonly #url: URL;
  readonly #agent: http.Agent;
  /** Every finished request, in order; marks index into it. Bounded by maxDurationMs x rate. */
  readonly #samples: Sample[] = [];
  readonly #marks = new Map<string, number>();
  #running = false;
  #next = 0;
  #startedAt = 0;
  #workers: Promise<void>[] = [];
  #stopTimer: NodeJS.Timeout | undefined;

  constructor(options: LoadOptions) {
    this.#url = new URL(options.target);
    if (!isLoopback(this.#url.hostname)) throw new LoadError(`load only targets loopback addresses, not ${this.#url.hostname}`);
    if (options.concurrency < 1 || !Number.isInteger(options.concurrency)) throw new LoadError('concurrency must be a positive integer');
    if (options.paths.length === 0) throw new LoadError('at least one path is needed');
    this.#options = options;
    this.#agent = new http.Agent({ keepAlive: true, maxSockets: options.concurrency });
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#startedAt = performance.now();
    this.#stopTimer = setTimeout(() => void this.stop(), this.#options.maxDurationMs);
    this.#stopTimer.unref();
    this.#workers = Array.from({ length: this.#options.concurrency }, (_, i) => this.#worker(i));
  }

  get running(): boolean {
    return this.#running;
  }

  /** Stops sending, waits for the requests in flight and closes the connections; returns the totals. */
  async stop(): Promise<LoadCounts> {
    this.#running = false;
    clearTimeout(this.#stopTimer);
    await Promise.all(this.#workers);
    this.#agent.destroy();
    return this.counts();
  }

  /** Remembers the present position under a name, to count from it later. */
  mark(name: string): void {
    this.#marks.set(name, this.#samples.length);
  }

  /** Counts since a mark (or since the start), up to another mark (or now). */
  counts(from?: string, to?: string): LoadCounts {
    const start = from === undefined ? 0 : this.#marks.get(from);
    const end = to === undefined ? this.#samples.length : this.#marks.get(to);
    if (start === undefined || end === undefined) throw new LoadError(`no mark named ${start === undefined ? from : to}`);
    return summarise(this.#samples.slice(start, end));
  }

  /** Every request's latency so far in ms, in the order they finished (to pool several runs' percentiles). */
  latenciesMs(): number[] {
    return this.#samples.map((s) => s.ms);
  }

  /** Counts of the requests that finished in the last `windowMs` (the live view). */
  recent(windowMs: number): LoadCounts {
    const since = performance.now() - windowMs;
    let i = this.#samples.length;
    while (i > 0 && (this.#samples[i - 1] as Sample).at >= since) i--;
    return summarise(this.#samples.slice(i));
  }

  async #worker(index: number): Promise<void> {
    const rate = this.#options.ratePerSecond;
    // Paced: connection i sends its k-th request at (k * concurrency + i) / rate seconds.
    let k = 0;
    while (this.#running) {
      if (rate !== undefined) {
        const due = this.#startedAt + ((k * this.#options.concurrency + index) / rate) * 1000;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        if (!this.#running) break;
      }
      k++;
      this.#samples.push(await this.#once());
    }
  }

  #once(): Promise<Sample> {
    const paths = this.#options.paths;
    const p = paths[this.#next++ % paths.length] as string;
    const started = performance.now();
    return new Promise<Sample>((resolve) => {
      const done = (status: string): void => {
        const at = performance.now();
        resolve({ status, ms: at - started, at });
      };
      const req = http.get(
        {
          agent: this.#agent,
          hostname: this.#url.hostname,
          port: this.#url.port,
          path: p,
          headers: { host: this.#options.host, accept: 'image/webp,image/*' },
          timeout: this.#options.timeoutMs ?? 10_000,
        },
        (res) => {
          res.on('error', () => done('reset'));
          res.on('end', () => done(String(res.statusCode ?? 0)));
          res.resume();
        },
      );
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (err: NodeJS.ErrnoException) => done(err.message === 'timeout' ? 'timeout' : (err.code ?? 'error')));
    });
  }
}
