// `npm start`: the sandbox with the operator, the example ImageService over sample images, steady
// load through the mesh, a new image, and the canary advancing live until it is promoted; then how
// to reach the sandbox with kubectl. Stays up until Ctrl-C, or exits after the rollout with --exit.
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { parseDuration } from '../../operator/src/api/durations.ts';
import { ImageServiceSpecSchema, weightSchedule } from '../../operator/src/api/image-service.ts';
import { isAlive } from '../pids.ts';
import { defaultControlPlane, REPO_ROOT, type Sandbox, startSandbox } from '../sandbox.ts';
import { startView, type View } from '../view/server.ts';
import { samplePaths, writeSampleImages } from './images.ts';
import { LoadGenerator } from './load.ts';
import { operatorComponent } from './operator.ts';
import { applyImageService, eventsOf, type KubeEvent, mergePatch, observe, type Ref, readManifest, setImage, settledIn, waitForReady, waitForRoute } from './rollout.ts';
import { LiveView } from './view.ts';

const EXAMPLE = path.join(REPO_ROOT, 'examples', 'minimal.yaml');
const CLAIM = 'image-originals';
const NEW_IMAGE = 'imageops/image-service:1.1.0';
/** The example's canary policy made demo-sized: a check every 5 s, 20% steps, two sample pictures compared. */
const OUTPUT_SAMPLES = [
  { key: 'landscape.jpg', params: 'w=480' },
  { key: 'badge.png', params: 'w=160' },
];
const DEMO_CANARY = { canary: { interval: '5s', stepWeight: 20, analysis: { output: { samples: OUTPUT_SAMPLES } } } };
const LOAD = { concurrency: 4, ratePerSecond: 40 };
/** After the rollout the load keeps going (so a second rollout can be watched) for this long at most. */
const LINGER_LOAD_MS = 30 * 60_000;
const READY_TIMEOUT_MS = 180_000;

const { values: args } = parseArgs({
  options: {
    exit: { type: 'boolean', default: false },
    'control-plane': { type: 'string' },
    'state-dir': { type: 'string', default: path.join(REPO_ROOT, '.sandbox') },
  },
});

const out = (line = ''): void => void process.stdout.write(`${line}\n`);

function relative(p: string): string {
  const r = path.relative(process.cwd(), p);
  return r === '' ? '.' : r.startsWith('..') ? p : r;
}

function eventLine(e: KubeEvent): string {
  return `  event ${e.type === 'Warning' ? 'WARNING ' : ''}${e.reason ?? ''}: ${e.message ?? ''}`;
}

/** Follows the rollout until it settles in Succeeded or Failed, redrawing the view and printing new Events. */
async function follow(sandbox: Sandbox, ref: Ref, load: LoadGenerator, timeoutMs: number): Promise<'Succeeded' | 'Failed'> {
  const view = new LiveView();
  const seen = new Set<string>();
  for (const e of await eventsOf(sandbox.client, ref)) seen.add(`${e.reason}|${e.message}`);
  const started = Date.now();
  for (;;) {
    const o = await observe(sandbox.client, ref);
    for (const e of await eventsOf(sandbox.client, ref)) {
      const key = `${e.reason}|${e.message}`;
      if (seen.has(key)) continue;
      seen.add(key);
      view.note(eventLine(e));
    }
    if (o !== undefined) view.update({ status: o.status, recent: load.recent(5_000), total: load.counts('rollout'), elapsedMs: Date.now() - started });
    if (settledIn(o, ['Succeeded', 'Failed'])) {
      view.done();
      return o?.status.phase === 'Succeeded' ? 'Succeeded' : 'Failed';
    }
    if (Date.now() - started > timeoutMs) {
      view.done();
      throw new Error(`the rollout did not finish within ${Math.round(timeoutMs / 1000)}s (phase ${o?.status.phase ?? '-'}: ${o?.status.message ?? ''})`);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

function howToReach(sandbox: Sandbox, ref: Ref, host: string, view: View): void {
  const kubeconfig = relative(sandbox.kubeconfigPath);
  out();
  out(`The sandbox is yours. Watch rollouts in a browser at ${view.url}; in another terminal:`);
  out(`  export KUBECONFIG=${kubeconfig}`);
  const ns = `-n ${ref.namespace}`;
  const commented: [string, string][] = [
    [`kubectl get imgsvc ${ns}`, 'phase, weight, primary and canary images'],
    [`kubectl describe imgsvc ${ref.name} ${ns}`, 'conditions, the last analysis, Events'],
  ];
  const width = Math.max(...commented.map(([c]) => c.length)) + 2;
  for (const [command, comment] of commented) out(`  ${command.padEnd(width)}# ${comment}`);
  out(`  kubectl get deployments,pods,services,virtualservices -n ${ref.namespace}`);
  out(`  curl -s -H 'Host: ${host}' '${sandbox.mesh}/image/files/landscape.jpg?w=320' -o thumb.jpg`);
  out('Roll out a version that breaks its latency SLO and watch it go back:');
  out(`  kubectl patch imgsvc ${ref.name} -n ${ref.namespace} --type merge -p '{"spec":{"image":"imageops/image-service:1.2.0-slow"}}'`);
  out(`  kubectl get imgsvc ${ref.name} -n ${ref.namespace} -w`);
  out(`(-broken tags answer most requests with 5xx; the steady load keeps going for ${LINGER_LOAD_MS / 60_000} minutes.)`);
  out(`Sandbox state, pod logs, sandbox.log and operator.log: ${relative(sandbox.stateDir)}/`);
  out('Ctrl-C stops everything.');
}

/** The pid of a live `npm run sandbox` using this state dir (it writes sandbox.json), if any. */
function runningSandbox(stateDir: string): number | undefined {
  try {
    const info = JSON.parse(fs.readFileSync(path.join(stateDir, 'sandbox.json'), 'utf8')) as { pid?: unknown };
    return typeof info.pid === 'number' && isAlive(info.pid) ? info.pid : undefined;
  } catch {
    return undefined;
  }
}

async function main(): Promise<number> {
  const stateDir = path.resolve(args['state-dir']);
  const running = runningSandbox(stateDir);
  if (running !== undefined) {
    process.stderr.write(`npm start: a sandbox is already running from ${relative(stateDir)} (pid ${running}); stop it first, or pass --state-dir DIR\n`);
    return 1;
  }
  out('Starting the sandbox (API server, controllers, kubelet, mesh, Prometheus if installed) and the operator...');
  // The sandbox's own log goes to a file: the terminal is the demo's.
  const logger = pino({ level: process.env['SANDBOX_LOG_LEVEL'] ?? 'info' }, pino.destination({ dest: path.join(stateDir, 'sandbox.log'), mkdir: true, sync: true }));
  const sandbox = await startSandbox({ stateDir, components: [operatorComponent()], logger, controlPlane: defaultControlPlane(args['control-plane']) });
  let load: LoadGenerator | undefined;
  let view: View | undefined;
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      await load?.stop();
      await view?.stop();
      await sandbox.stop();
    })());
  let interrupts = 0;
  const onSignal = (): void => {
    if (++interrupts > 1) process.exit(130);
    out('\nStopping the sandbox...');
    void stop().then(() => process.exit(0));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    out(`API server ${sandbox.apiServer}, mesh ${sandbox.mesh}`);
    view = await startView({ kubeconfigPath: sandbox.kubeconfigPath, prometheus: sandbox.prometheus, logger });
    out(`The rollout, live in a browser: ${view.url}`);
    out(
      sandbox.prometheus !== undefined
        ? `Canary analysis reads Prometheus at ${sandbox.prometheus} (Istio's metrics from the mesh, scraped every second).`
        : "Prometheus is not installed: canary analysis uses the direct provider (the canary pods' own /metrics). apt-get install prometheus to use it.",
    );

    const manifest = mergePatch(readManifest(EXAMPLE), { spec: DEMO_CANARY });
    const ref: Ref = { namespace: manifest.metadata.namespace ?? 'default', name: manifest.metadata.name };
    const keys = await writeSampleImages(await sandbox.claim(ref.namespace, CLAIM));
    out(`Sample images (${keys.join(', ')}) in the claim ${CLAIM}.`);

    out(`Applying ${relative(EXAMPLE)} (canary: check every ${DEMO_CANARY.canary.interval}, ${DEMO_CANARY.canary.stepWeight}% steps)...`);
    out(`Output check: ${OUTPUT_SAMPLES.map((s) => `${s.key}?${s.params}`).join(', ')} compared between primary and canary before the first weight and at each check.`);
    await applyImageService(sandbox.client, manifest);
    const initial = await waitForReady(sandbox.client, ref, ['Initialized', 'Succeeded'], READY_TIMEOUT_MS);
    out(`${ref.name} is ${initial.status.phase}: ${initial.status.primary?.image ?? initial.image} serves 100%.`);

    const host = `${ref.name}.${ref.namespace}.svc.cluster.local`;
    await waitForRoute(sandbox.mesh, host, `/image/files/${keys[0]}?w=32`, 30_000);
    load = new LoadGenerator({ target: sandbox.mesh, host, paths: samplePaths(), ...LOAD, maxDurationMs: LINGER_LOAD_MS });
    load.start();
    out(`Steady load through the mesh: ${LOAD.concurrency} keep-alive connections, ${LOAD.ratePerSecond} requests/s to ${host}.`);
    await new Promise((r) => setTimeout(r, 3_000));

    const canary = ImageServiceSpecSchema.parse(manifest.spec).canary;
    const steps = weightSchedule(canary).length;
    const intervalMs = parseDuration(canary.interval);
    load.mark('rollout');
    await setImage(sandbox.client, ref, NEW_IMAGE);
    out(`Changed spec.image to ${NEW_IMAGE}: the canary starts (${steps} steps, one every ${DEMO_CANARY.canary.interval}).`);
    out();
    const outcome = await follow(sandbox, ref, load, READY_TIMEOUT_MS + steps * intervalMs * 4);
    const during = load.counts('rollout');
    const output = (await observe(sandbox.client, ref))?.status.lastAnalysis?.output;
    out();
    if (output)
      out(`Last output check: ${output.samples} samples, ${output.failed} differing; worst lightness SSIM ${output.worstSsim ?? 'n/a'}, worst colour difference ${output.worstDeltaE ?? 'n/a'}.`);
    out(
      outcome === 'Succeeded'
        ? `Promoted ${NEW_IMAGE}. During the rollout the load sent ${during.requests} requests; ${during.failed} failed.`
        : `The canary was rolled back (${(await observe(sandbox.client, ref))?.status.message ?? ''}). ${during.requests} requests sent, ${during.failed} failed.`,
    );
    if (args.exit) {
      await stop();
      return outcome === 'Succeeded' && during.failed === 0 ? 0 : 1;
    }
    howToReach(sandbox, ref, host, view);
    return await new Promise<number>(() => undefined); // until a signal
  } catch (err) {
    process.stderr.write(`npm start: ${err instanceof Error ? err.message : String(err)}\n`);
    await stop();
    return 1;
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`npm start: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
