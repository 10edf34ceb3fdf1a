// The operator as the sandbox runs it: `npm run operator`'s entry in its own process (so a test can
// kill it outright, as a node failure would), pointed at the sandbox's API server and Prometheus.
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { forgetPid, recordPid } from '../pids.ts';
import type { SandboxComponent, SandboxContext } from '../sandbox.ts';
import { REPO_ROOT } from '../sandbox.ts';

const ENTRY = path.join(REPO_ROOT, 'operator', 'src', 'main.ts');
const START_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 10_000;

export interface OperatorProcess {
  pid: number;
  /** The operator's /metrics, /healthz and /readyz. */
  url: string;
  /** SIGTERM (graceful: the operator finishes its reconciles, releases its lease), SIGKILL after a grace period. */
  stop(): Promise<void>;
  /** SIGKILL now: the operator dies mid-whatever, as on a node failure. */
  kill(): Promise<void>;
}

/** The metrics address from the operator's JSON start line, if this is that line. */
function startLine(line: string): string | undefined {
  try {
    const entry = JSON.parse(line) as { msg?: unknown; metrics?: unknown };
    return entry.msg === 'operator starting' && typeof entry.metrics === 'string' ? `http://${entry.metrics}` : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Starts the operator process against the sandbox; resolves once it runs, scraped by the
 * sandbox's Prometheus until it exits. Its log (JSON) is `<stateDir>/operator.log`.
 */
export async function startOperatorProcess(
  ctx: Pick<SandboxContext, 'kubeconfigPath' | 'prometheus' | 'stateDir'> & Partial<Pick<SandboxContext, 'scrape'>>,
  env: NodeJS.ProcessEnv = {},
): Promise<OperatorProcess> {
  const logFile = path.join(ctx.stateDir, 'operator.log');
  const log = fs.createWriteStream(logFile, { flags: 'a' });
  const child: ChildProcess = spawn(process.execPath, [ENTRY], {
    env: {
      ...process.env,
      KUBECONFIG: ctx.kubeconfigPath,
      PROMETHEUS_URL: ctx.prometheus ?? '',
      METRICS_ADDRESS: '127.0.0.1:0',
      LOG_LEVEL: process.env['OPERATOR_LOG_LEVEL'] ?? 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error('could not start the operator process');
  recordPid(ctx.stateDir, pid);
  child.stderr?.pipe(log, { end: false });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void exited.then(() => {
    forgetPid(ctx.stateDir, pid);
    log.end();
  });

  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the operator did not start within ${START_TIMEOUT_MS / 1000}s; see ${logFile}`)), START_TIMEOUT_MS);
    const lines = readline.createInterface({ input: child.stdout as NodeJS.ReadableStream });
    lines.on('line', (line) => {
      log.write(`${line}\n`);
      const found = startLine(line);
      if (found === undefined) return;
      clearTimeout(timer);
      resolve(found);
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`the operator exited at start (code ${child.exitCode}); see ${logFile}`));
    });
  }).catch(async (err: unknown) => {
    child.kill('SIGKILL');
    await exited;
    throw err;
  });

  const unscrape = ctx.scrape?.('operator', `${url}/metrics`);
  if (unscrape !== undefined) void exited.then(unscrape);

  const signal = async (sig: NodeJS.Signals, graceMs: number): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill(sig);
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  };
  return { pid, url, stop: () => signal('SIGTERM', STOP_GRACE_MS), kill: () => signal('SIGKILL', 0) };
}

/** The operator as a sandbox component: started after the core, stopped before it. */
export function operatorComponent(env: NodeJS.ProcessEnv = {}): SandboxComponent {
  return { name: 'operator', start: (ctx) => startOperatorProcess(ctx, env) };
}
