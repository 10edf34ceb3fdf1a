// Readiness and liveness probes: one check (httpGet, tcpSocket, exec) and the threshold counting
// the kubelet applies to its results.
import { execFile } from 'node:child_process';
import net from 'node:net';
import type { Container, Probe } from '../kube/types.ts';

export interface ProbeResult {
  ok: boolean;
  message: string;
}

export function probeTiming(probe: Probe): { initialDelayMs: number; periodMs: number; timeoutMs: number; failureThreshold: number; successThreshold: number } {
  return {
    initialDelayMs: (probe.initialDelaySeconds ?? 0) * 1000,
    periodMs: Math.max(1, probe.periodSeconds ?? 10) * 1000,
    timeoutMs: Math.max(1, probe.timeoutSeconds ?? 1) * 1000,
    failureThreshold: Math.max(1, probe.failureThreshold ?? 3),
    successThreshold: Math.max(1, probe.successThreshold ?? 1),
  };
}

function resolvePort(port: string | number, container: Container): number {
  if (typeof port === 'number') return port;
  const named = container.ports?.find((p) => p.name === port)?.containerPort;
  if (named !== undefined) return named;
  const n = Number(port);
  if (Number.isInteger(n)) return n;
  throw new Error(`probe port "${port}" names no containerPort`);
}

/** One check; an exec runs behind `enter`, the prefix that puts it in the pod's network. */
export async function runProbe(probe: Probe, container: Container, podIP: string, env: NodeJS.ProcessEnv, cwd: string, enter: readonly string[] = []): Promise<ProbeResult> {
  const { timeoutMs } = probeTiming(probe);
  try {
    if (probe.httpGet !== undefined) {
      const g = probe.httpGet;
      const url = `${(g.scheme ?? 'HTTP').toLowerCase()}://${g.host ?? podIP}:${resolvePort(g.port, container)}${g.path ?? '/'}`;
      const headers: Record<string, string> = { 'user-agent': 'kube-probe/sandbox' };
      for (const h of g.httpHeaders ?? []) headers[h.name] = h.value;
      const res = await fetch(url, { headers, signal: AbortSignal.timeout(timeoutMs), redirect: 'manual' });
      await res.arrayBuffer();
      return res.status >= 200 && res.status < 400 ? { ok: true, message: '' } : { ok: false, message: `HTTP probe failed with statuscode: ${res.status}` };
    }
    if (probe.tcpSocket !== undefined) {
      const port = resolvePort(probe.tcpSocket.port, container);
      const host = probe.tcpSocket.host ?? podIP;
      await new Promise<void>((resolve, reject) => {
        const socket = net.connect({ host, port, timeout: timeoutMs }, () => {
          socket.destroy();
          resolve();
        });
        socket.on('timeout', () => socket.destroy(new Error('timeout')));
        socket.on('error', reject);
      });
      return { ok: true, message: '' };
    }
    if (probe.exec !== undefined) {
      if (probe.exec.command[0] === undefined) return { ok: false, message: 'exec probe has no command' };
      const [cmd, ...args] = [...enter, ...probe.exec.command] as [string, ...string[]];
      await new Promise<void>((resolve, reject) => execFile(cmd, args, { env, cwd, timeout: timeoutMs }, (err) => (err === null ? resolve() : reject(err))));
      return { ok: true, message: '' };
    }
    return { ok: false, message: 'probe has no handler' };
  } catch (err) {
    return { ok: false, message: err instanceof Error ? err.message : String(err) };
  }
}

/** Consecutive-result thresholds: the state flips after failureThreshold failures or successThreshold successes. */
export class ProbeCounter {
  readonly #failureThreshold: number;
  readonly #successThreshold: number;
  #failures = 0;
  #successes = 0;
  #state: boolean;

  constructor(probe: Probe, initial: boolean) {
    const t = probeTiming(probe);
    this.#failureThreshold = t.failureThreshold;
    this.#successThreshold = t.successThreshold;
    this.#state = initial;
  }

  record(ok: boolean): boolean {
    if (ok) {
      this.#failures = 0;
      this.#successes += 1;
      if (this.#successes >= this.#successThreshold) this.#state = true;
    } else {
      this.#successes = 0;
      this.#failures += 1;
      if (this.#failures >= this.#failureThreshold) this.#state = false;
    }
    return this.#state;
  }
}
