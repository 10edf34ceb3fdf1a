// Starting and stopping one pinned server process for a benchmark cell: taskset pins it (and the
// threads and children it creates) to the cell's cores; its output goes to a log file so that a
// failed start can be explained, and a stop takes the whole process tree down.
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { snapshotTree } from './proc-stats.ts';

export interface LaunchSpec {
  command: string;
  args: string[];
  /** Added to the harness's environment; undefined removes a variable. */
  env: Record<string, string | undefined>;
  /** taskset's CPU list, e.g. "1" or "0,1". */
  cpus: string;
  logFile: string;
}

export interface RunningServer {
  pid: number;
  origin: string;
  logFile: string;
  stop(): Promise<void>;
}

export function mergeEnv(base: NodeJS.ProcessEnv, changes: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env = { ...base };
  for (const [name, value] of Object.entries(changes)) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  return env;
}

/** A free loopback port: bind port 0, read it, release it. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, host, () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

function logTail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

function killTree(root: number, signal: NodeJS.Signals): void {
  for (const pid of snapshotTree(root).pids.reverse()) {
    try {
      process.kill(pid, signal);
    } catch {
      // Already gone.
    }
  }
}

async function exited(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return true;
  return Promise.race([new Promise<boolean>((resolve) => child.once('exit', () => resolve(true))), sleep(ms).then(() => false)]);
}

/** Starts the server and waits until readyPath answers 200 (at most timeoutMs). */
export async function startServer(spec: LaunchSpec, origin: string, readyPath: string, timeoutMs = 30_000): Promise<RunningServer> {
  mkdirSync(dirname(spec.logFile), { recursive: true });
  const log = createWriteStream(spec.logFile);
  const child = spawn('taskset', ['-c', spec.cpus, spec.command, ...spec.args], {
    env: mergeEnv(process.env, spec.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not start ${spec.command}`);

  const stop = async (): Promise<void> => {
    killTree(pid, 'SIGTERM');
    if (!(await exited(child, 5_000))) killTree(pid, 'SIGKILL');
    await exited(child, 2_000);
    // Workers of a multi-process server (php -S) may outlive their parent by a moment.
    killTree(pid, 'SIGKILL');
    log.end();
  };

  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${spec.command} exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${logTail(spec.logFile)}`);
    }
    try {
      const response = await fetch(`${origin}${readyPath}`, { signal: AbortSignal.timeout(5_000) });
      await response.arrayBuffer();
      if (response.status === 200) return { pid, origin, logFile: spec.logFile, stop };
    } catch {
      // Not listening yet.
    }
    await sleep(100);
  }
  await stop();
  throw new Error(`${spec.command} was not ready within ${timeoutMs} ms:\n${logTail(spec.logFile)}`);
}
