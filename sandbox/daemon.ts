// A server process the sandbox runs (Prometheus, etcd, the control plane's components): started
// in its own process group with its output in a log file, recorded in the state dir (pids.ts) so a
// crashed sandbox's leftovers are killed by the next one, ready when its probe says so, stopped
// with SIGTERM and, after a grace, SIGKILL.
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { forgetPid, isAlive, recordPid } from './pids.ts';

export interface DaemonOptions {
  /** Names the process in errors. */
  name: string;
  bin: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  stateDir: string;
  logFile: string;
  /** Resolves true once the process serves. */
  ready: () => Promise<boolean>;
  readyTimeoutMs?: number;
}

/** Thrown when a daemon cannot start: one line naming it and why, with its log's last line. */
export class DaemonError extends Error {
  override name = 'DaemonError';
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** The last non-empty line of a log, for an error message. */
export function lastLogLine(file: string): string {
  try {
    const text = fs.readFileSync(file, 'utf8');
    const lines = text
      .slice(-8192)
      .split('\n')
      .filter((l) => l.trim() !== '');
    return lines.at(-1)?.trim() ?? '';
  } catch {
    return '';
  }
}

export class Daemon {
  readonly #child: ChildProcess;
  readonly #stateDir: string;
  readonly name: string;
  readonly logFile: string;

  private constructor(child: ChildProcess, options: DaemonOptions) {
    this.#child = child;
    this.#stateDir = options.stateDir;
    this.name = options.name;
    this.logFile = options.logFile;
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  get exited(): boolean {
    return this.#child.exitCode !== null || this.#child.signalCode !== null;
  }

  static async start(options: DaemonOptions): Promise<Daemon> {
    const log = fs.openSync(options.logFile, 'a');
    const child = spawn(options.bin, options.args, { detached: true, stdio: ['ignore', log, log], ...(options.env ? { env: options.env } : {}) });
    fs.closeSync(log);
    const spawnError = await new Promise<string | undefined>((resolve) => {
      child.once('spawn', () => resolve(undefined));
      child.once('error', (err) => resolve(err.message));
    });
    if (spawnError !== undefined) throw new DaemonError(`${options.name} did not start: ${spawnError}`);
    const daemon = new Daemon(child, options);
    if (child.pid !== undefined) recordPid(options.stateDir, child.pid);
    const deadline = Date.now() + (options.readyTimeoutMs ?? 30_000);
    while (Date.now() < deadline && !daemon.exited) {
      // a probe that hangs counts as not ready, so the deadline and an exit are still seen
      const probe = options.ready().catch(() => false);
      if (await Promise.race([probe, sleep(2000).then(() => false)])) return daemon;
      await sleep(100);
    }
    const why = daemon.exited ? `exited with ${child.exitCode ?? child.signalCode}` : `not ready within ${options.readyTimeoutMs ?? 30_000} ms`;
    await daemon.stop();
    const last = lastLogLine(options.logFile);
    throw new DaemonError(`${options.name} did not start: ${why}${last ? `: ${last.slice(0, 300)}` : ''} (log: ${options.logFile})`);
  }

  /** SIGTERM to the process group, SIGKILL after graceMs. */
  async stop(graceMs = 5000): Promise<void> {
    const pid = this.#child.pid;
    if (pid === undefined) return;
    if (!this.exited) {
      const exited = new Promise((r) => this.#child.once('exit', r));
      const signal = (s: NodeJS.Signals): void => {
        try {
          process.kill(-pid, s);
        } catch {
          // gone
        }
      };
      signal('SIGTERM');
      const timer = setTimeout(() => signal('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    }
    if (!isAlive(pid)) forgetPid(this.#stateDir, pid);
  }
}
