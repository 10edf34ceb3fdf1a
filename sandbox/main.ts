// `npm run sandbox [-- --control-plane real|emulated]`: the sandbox on loopback until SIGINT or
// SIGTERM. Writes .sandbox/kubeconfig and .sandbox/sandbox.json ({apiServer, view, mesh, prometheus,
// ...}); cleans up what a previous run left behind first. SANDBOX_DIR overrides the state directory.
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { operatorComponent } from './demo/operator.ts';
import { isAlive, killRecorded } from './pids.ts';
import { defaultControlPlane, type SandboxComponent, startSandbox } from './sandbox.ts';
import { startView } from './view/server.ts';

const logger = pino({ level: process.env.SANDBOX_LOG_LEVEL ?? 'info' });
const stateDir = path.resolve(process.env.SANDBOX_DIR ?? '.sandbox');
const infoFile = path.join(stateDir, 'sandbox.json');

// Extra parts started with the sandbox, after its core: the operator, in its own process.
const components: SandboxComponent[] = [operatorComponent()];

function previousOwner(): number | undefined {
  try {
    const info = JSON.parse(fs.readFileSync(infoFile, 'utf8')) as { pid?: unknown };
    return typeof info.pid === 'number' && info.pid !== process.pid && isAlive(info.pid) ? info.pid : undefined;
  } catch {
    return undefined;
  }
}

const running = previousOwner();
if (running !== undefined) {
  logger.fatal(`a sandbox is already running from ${stateDir} (pid ${running}); stop it first (kill ${running})`);
  process.exit(1);
}
const killed = killRecorded(stateDir);
if (killed.length > 0) logger.warn({ pids: killed }, 'stopped processes left by a previous sandbox');
fs.rmSync(stateDir, { recursive: true, force: true });
fs.mkdirSync(stateDir, { recursive: true });

const { values: args } = parseArgs({ options: { 'control-plane': { type: 'string' } } });
const sandbox = await startSandbox({ stateDir, components, logger, controlPlane: defaultControlPlane(args['control-plane']) });
const view = await startView({ kubeconfigPath: sandbox.kubeconfigPath, prometheus: sandbox.prometheus, logger });
const info = {
  apiServer: sandbox.apiServer,
  view: view.url,
  mesh: sandbox.mesh,
  prometheus: sandbox.prometheus ?? null,
  meshMetrics: sandbox.meshMetrics,
  kubeconfig: sandbox.kubeconfigPath,
  pid: process.pid,
};
fs.writeFileSync(infoFile, `${JSON.stringify(info, null, 2)}\n`);
const relative = path.relative(process.cwd(), sandbox.kubeconfigPath);
const rel = relative.startsWith('..') ? sandbox.kubeconfigPath : relative;
process.stdout.write(
  [
    `sandbox ready (${sandbox.controlPlane} control plane)`,
    `  API server  ${sandbox.apiServer}    export KUBECONFIG=${rel}`,
    `  view        ${view.url}    rollouts live in a browser`,
    `  mesh        ${sandbox.mesh}    curl -H 'Host: NAME.NAMESPACE' ${sandbox.mesh}/...`,
    `  prometheus  ${sandbox.prometheus ?? '(not installed: apt-get install -y prometheus)'}`,
    'Ctrl-C stops it.',
    '',
  ].join('\n'),
);

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) {
    // A second signal: no more waiting for drains.
    killRecorded(stateDir);
    process.exit(1);
  }
  stopping = true;
  logger.info({ signal }, 'stopping the sandbox');
  await view.stop();
  await sandbox.stop();
  fs.rmSync(infoFile, { force: true });
  process.exit(0);
}
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
