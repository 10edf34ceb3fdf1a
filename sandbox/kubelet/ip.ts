// Pod addresses in 127.0.0.0/8. Linux routes the whole block to the loopback interface, so every
// pod gets its own address and keeps its containerPort. Each sandbox picks a random /16, so parallel
// sandboxes (parallel test files) never hand out the same address.
import net from 'node:net';

export class PodIpAllocator {
  readonly prefix: string;
  readonly #inUse = new Set<string>();
  #next = 2;

  constructor(secondOctet = 10 + Math.floor(Math.random() * 241)) {
    this.prefix = `127.${secondOctet}`;
  }

  /** The next free address that this machine lets us bind. */
  async allocate(): Promise<string> {
    for (let tries = 0; tries < 65_000; tries++) {
      const n = this.#next;
      this.#next = n >= 65_533 ? 2 : n + 1;
      const ip = `${this.prefix}.${Math.floor(n / 256)}.${n % 256}`;
      if (n % 256 === 0 || n % 256 === 255 || this.#inUse.has(ip)) continue;
      if (!(await bindable(ip))) continue;
      this.#inUse.add(ip);
      return ip;
    }
    throw new Error(`no bindable pod address left in ${this.prefix}.0.0/16`);
  }

  release(ip: string): void {
    this.#inUse.delete(ip);
  }
}

export function bindable(ip: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(0, ip, () => server.close(() => resolve(true)));
  });
}
