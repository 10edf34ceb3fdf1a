// Service IP allocation from the default service CIDR (10.96.0.0/12), as the real allocator does
// on Service creation (https://kubernetes.io/docs/concepts/services-networking/cluster-ip-allocation/).
// The first address is the `kubernetes` Service's; addresses come back when a Service is deleted.

const BASE = (10 << 24) | (96 << 16);
const SIZE = 1 << 20;

function toIp(n: number): string {
  return [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export class ClusterIps {
  readonly #used = new Set<string>();
  #next = 10;

  allocate(): string {
    for (let tries = 0; tries < SIZE; tries++) {
      const ip = toIp(BASE + this.#next);
      this.#next = this.#next + 1 >= SIZE - 1 ? 2 : this.#next + 1;
      if (!this.#used.has(ip)) {
        this.#used.add(ip);
        return ip;
      }
    }
    throw new Error('the service IP range is full');
  }

  reserve(ip: string): boolean {
    if (this.#used.has(ip)) return false;
    this.#used.add(ip);
    return true;
  }

  release(ip: string): void {
    this.#used.delete(ip);
  }
}
