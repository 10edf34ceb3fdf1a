// Pod addresses in 127.0.0.0/8. Linux routes the whole block to the loopback interface, so every
// pod gets its own address and keeps its containerPort. Each sandbox picks a random /16 and a
// random start in it, and an address is handed out only when the pod's ports are free on it, so
// parallel sandboxes (parallel test files) do not collide.
import net from 'node:net';

export class PodIpAllocator {
  readonly prefix: string;
  readonly #inUse = new Set<string>();
  #next: number;

  constructor(secondOctet = 10 + Math.floor(Math.random() * 241), start = 2 + Math.floor(Math.random() * 60_000)) {
    this.prefix = `127.${secondOctet}`;
    this.#next = start;
  }

  /** The next address where every one of `ports` (or any port, when none) can be bound. */
  async allocate(ports: readonly number[] = []): Promise<string> {
    for (let tries = 0; tries < 65_000; tries++) {
      const n = this.#next;
      this.#next = n >= 65_533 ? 2 : n + 1;
      const ip = `${this.prefix}.${Math.floor(n / 256)}.${n % 256}`;
      if (n % 256 === 0 || n % 256 === 255 || this.#inUse.has(ip)) continue;
      if (!(await bindable(ip, ports))) continue;
      this.#inUse.add(ip);
      return ip;
    }
    throw new Error(`no bindable pod address left in ${this.prefix}.0.0/16`);
  }

  release(ip: string): void {
    this.#inUse.delete(ip);
  }
}

export async function bindable(ip: string, ports: readonly number[] = []): Promise<boolean> {
  for (const port of ports.length === 0 ? [0] : ports) {
    const ok = await new Promise<boolean>((resolve) => {
      const server = net.createServer();
      server.once('error', () => resolve(false));
      server.listen(port, ip, () => server.close(() => resolve(true)));
    });
    if (!ok) return false;
  }
  return true;
}
