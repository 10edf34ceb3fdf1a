// Pod networking, the sandbox's CNI. Two kinds:
// - loopback: every pod gets its own address in 127.0.0.0/8 and binds it (no privileges; what
//   the emulated control plane uses, whose API server accepts such addresses);
// - namespaces: every pod gets its own network namespace with a veth on a bridge of the
//   sandbox's own 10.244.N.0/24, as a CNI plugin gives it. kube-apiserver refuses loopback
//   addresses in EndpointSlices, so the real control plane needs this; it needs root and
//   iproute2. Traffic stays on this machine: the bridge and the namespaces are the sandbox's.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { PodIpAllocator } from './ip.ts';

const run = promisify(execFile);

export interface PodAddress {
  ip: string;
  /** The command prefix that runs a process in the pod's network (empty: the host's). */
  enter: string[];
  release(): Promise<void>;
}

export interface PodNetwork {
  /** An address for a pod whose containers listen on `ports`. */
  attach(ports: readonly number[]): Promise<PodAddress>;
  close(): Promise<void>;
}

export class LoopbackNetwork implements PodNetwork {
  readonly #ips = new PodIpAllocator();

  async attach(ports: readonly number[]): Promise<PodAddress> {
    const ip = await this.#ips.allocate(ports);
    return { ip, enter: [], release: async () => this.#ips.release(ip) };
  }

  async close(): Promise<void> {}
}

export class NetworkError extends Error {
  override name = 'NetworkError';
}

async function ip(...args: string[]): Promise<void> {
  try {
    await run('ip', args);
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new NetworkError('pod network namespaces need iproute2 (the ip command): apt-get install -y iproute2');
    throw new NetworkError(`ip ${args.join(' ')}: ${(e.stderr ?? e.message).trim()}`);
  }
}

const recordFile = (stateDir: string) => path.join(stateDir, 'network.json');

/** Removes the bridge and namespaces an earlier sandbox in this state dir left behind. */
export async function cleanupNetwork(stateDir: string): Promise<void> {
  let left: { bridge?: string; namespaces?: string[] };
  try {
    left = JSON.parse(fs.readFileSync(recordFile(stateDir), 'utf8')) as typeof left;
  } catch {
    return;
  }
  for (const ns of left.namespaces ?? []) await ip('netns', 'del', ns).catch(() => undefined);
  if (left.bridge) await ip('link', 'del', left.bridge).catch(() => undefined);
  fs.rmSync(recordFile(stateDir), { force: true });
}

export class NamespaceNetwork implements PodNetwork {
  readonly #stateDir: string;
  readonly #bridge: string;
  readonly #subnet: number;
  readonly #namespaces = new Map<number, string>();
  /** Where the next address search starts: a freed address is the last to be reused, as host-local IPAM does. */
  #next = 2;
  readonly #forwarders: net.Server[] = [];
  readonly #relayed = new Set<net.Socket>();

  private constructor(stateDir: string, bridge: string, subnet: number) {
    this.#stateDir = stateDir;
    this.#bridge = bridge;
    this.#subnet = subnet;
  }

  /** Creates the sandbox's bridge on the first free 10.244.N.0/24 (parallel sandboxes take others). */
  static async create(stateDir: string): Promise<NamespaceNetwork> {
    if (process.getuid?.() !== 0) throw new NetworkError('pod network namespaces need root (the real control plane refuses loopback pod addresses)');
    for (let n = 0; n < 256; n++) {
      const bridge = `imgops${n}`;
      try {
        await ip('link', 'add', bridge, 'type', 'bridge');
      } catch (err) {
        if (err instanceof NetworkError && /exists/i.test(err.message)) continue;
        throw err;
      }
      const network = new NamespaceNetwork(stateDir, bridge, n);
      network.#record();
      await ip('addr', 'add', `10.244.${n}.1/24`, 'dev', bridge);
      await ip('link', 'set', bridge, 'up');
      return network;
    }
    throw new NetworkError('no free bridge imgops0-255 for the pod network');
  }

  /** The bridge's own address, the pods' default gateway: the host as the pods see it. */
  get gateway(): string {
    return `10.244.${this.#subnet}.1`;
  }

  /**
   * Makes a host service on loopback (the API server, Prometheus) reachable from the pods at the
   * gateway address and the same port, relaying each TCP connection as it is.
   */
  async forward(port: number): Promise<{ host: string; port: number }> {
    const server = net.createServer((inbound) => {
      const outbound = net.connect(port, '127.0.0.1');
      for (const socket of [inbound, outbound]) {
        this.#relayed.add(socket);
        socket.once('close', () => this.#relayed.delete(socket));
      }
      inbound.pipe(outbound).pipe(inbound);
      inbound.on('error', () => outbound.destroy());
      outbound.on('error', () => inbound.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) => reject(new NetworkError(`cannot forward ${this.gateway}:${port} to 127.0.0.1: ${err.message}`)));
      server.listen(port, this.gateway, () => resolve());
    });
    this.#forwarders.push(server);
    return { host: this.gateway, port };
  }

  #record(): void {
    fs.writeFileSync(recordFile(this.#stateDir), JSON.stringify({ bridge: this.#bridge, namespaces: [...this.#namespaces.values()] }));
  }

  async attach(): Promise<PodAddress> {
    let host = this.#next;
    for (let tried = 0; this.#namespaces.has(host); tried++) {
      if (tried === 253) throw new NetworkError(`no free address left in 10.244.${this.#subnet}.0/24`);
      host = host === 254 ? 2 : host + 1;
    }
    this.#next = host === 254 ? 2 : host + 1;
    const ns = `${this.#bridge}-${host}`;
    this.#namespaces.set(host, ns);
    this.#record();
    const address = `10.244.${this.#subnet}.${host}`;
    const veth = this.#veth(host);
    try {
      await ip('netns', 'add', ns);
      await ip('link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
      await ip('link', 'set', veth, 'master', this.#bridge, 'up');
      await ip('-n', ns, 'addr', 'add', `${address}/24`, 'dev', 'eth0');
      await ip('-n', ns, 'link', 'set', 'eth0', 'up');
      await ip('-n', ns, 'link', 'set', 'lo', 'up');
      await ip('-n', ns, 'route', 'add', 'default', 'via', `10.244.${this.#subnet}.1`);
    } catch (err) {
      await this.#free(host);
      throw err;
    }
    return { ip: address, enter: ['nsenter', `--net=/run/netns/${ns}`, '--'], release: () => this.#free(host) };
  }

  #veth(host: number): string {
    return `ioh${this.#subnet}x${host}`;
  }

  async #free(host: number): Promise<void> {
    const ns = this.#namespaces.get(host);
    if (ns === undefined) return;
    // The veth first: the kernel destroys a deleted namespace later, and until then its address
    // still answers. Then the host's neighbour entry: a stale one makes a connect to the gone
    // address wait out TCP's retransmits instead of failing.
    await ip('link', 'del', this.#veth(host)).catch(() => undefined);
    await ip('netns', 'del', ns).catch(() => undefined);
    await ip('neigh', 'del', `10.244.${this.#subnet}.${host}`, 'dev', this.#bridge).catch(() => undefined);
    this.#namespaces.delete(host);
    this.#record();
  }

  async close(): Promise<void> {
    for (const server of this.#forwarders.splice(0)) server.close();
    for (const socket of this.#relayed) socket.destroy();
    for (const host of [...this.#namespaces.keys()]) await this.#free(host);
    await ip('link', 'del', this.#bridge).catch(() => undefined);
    fs.rmSync(recordFile(this.#stateDir), { force: true });
  }
}
