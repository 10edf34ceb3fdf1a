// The visual diffs of the output check's failures, kept in the operator's memory and served on
// its metrics port (main.ts) at /canary/diffs/<namespace>/<name>/<n>.png. Bounded: the last
// MAX_DIFFS pictures of the whole operator, each at most DIFF_SIZE a side (output.ts), so the
// store holds at most a few MiB whatever the ImageServices ask. Lost on restart and held by
// the leader only: a diff is for looking at now; the status keeps the numbers.

export const MAX_DIFFS = 32;
const PREFIX = '/canary/diffs/';

export class DiffStore {
  readonly #diffs = new Map<string, Buffer>();
  #next = 0;

  /** Keeps a PNG; returns the path it is served at. The oldest goes when MAX_DIFFS are kept. */
  put(namespace: string, name: string, png: Buffer): string {
    const path = `${PREFIX}${namespace}/${name}/${this.#next++}.png`;
    this.#diffs.set(path, png);
    if (this.#diffs.size > MAX_DIFFS) this.#diffs.delete(this.#diffs.keys().next().value!);
    return path;
  }

  /** The PNG at a request path, if kept. */
  get(path: string): Buffer | undefined {
    return path.startsWith(PREFIX) ? this.#diffs.get(path) : undefined;
  }
}
