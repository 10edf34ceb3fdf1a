// The reconciler's Measure: call the check's hooks, then measure the canary with the
// ImageService's provider over the check's window, compare its pictures with primary's
// (output.ts) when the spec lists samples or takes them from primary's traffic (traffic.ts), and
// judge both. It runs only when checkDue says a check is due, and knows nothing of the decision
// that follows: the hooks' answers reach decide inside the AnalysisResult.
import { type AnalysisResult, type ImageService, outputChecked } from '../api/image-service.ts';
import { managementPort, trackName } from '../build/labels.ts';
import type { CheckDue, Measure } from '../rollout.ts';
import { DiffStore } from './diffs.ts';
import { checkOutput, describeFailure } from './output.ts';
import type { EndpointSource } from './providers/direct.ts';
import { AnalysisError } from './providers/provider.ts';
import type { Providers } from './providers/select.ts';
import type { SigningKeySource } from './signing-key.ts';
import { samplesFromTraffic } from './traffic.ts';
import { type AnalysisOutcome, judge, judgeOutput, type OutputVerdict } from './verdict.ts';
import { callWebhook, describeAnswer } from './webhooks.ts';

interface MeasureOptions {
  /** How the output check finds a primary and a canary pod: the direct provider's source. */
  endpoints: EndpointSource;
  /** How the output check reads the key of a service with signed URLs. */
  signingKey: SigningKeySource;
  diffs: DiffStore;
}

/** `diffs`: where the output check's visual diffs are kept (the operator serves its store). */
export function canaryMeasure(providers: Providers, diffs: DiffStore = new DiffStore()): Measure {
  const options: MeasureOptions = { endpoints: providers.endpoints, signingKey: providers.signingKey, diffs };
  return async (isvc: ImageService, check: CheckDue, now: Date, signal: AbortSignal): Promise<AnalysisResult> => {
    const hooks = await askHooks(isvc, check, signal);
    // A hook's no (a rollback hook's yes) ends the check unmeasured.
    const record = hooks?.stop !== undefined ? { at: now.toISOString(), passed: false, reason: hooks.stop } : await measured(isvc, check, now, signal, providers, options);
    return hooks === undefined ? record : { ...record, ...hooks.record };
  };
}

/**
 * Calls the check's hooks at once (each bounded). A rollback hook's yes or another hook's no
 * (rollout, pre-rollout, confirm-rollout, post-rollout) is `stop`; a confirm-promotion hook's no
 * is for decide to weigh.
 */
async function askHooks(isvc: ImageService, check: CheckDue, signal: AbortSignal) {
  if (check.webhooks === undefined) return undefined;
  const { hooks, rollout } = check.webhooks;
  const payload = { name: isvc.metadata.name, namespace: isvc.metadata.namespace ?? 'default', ...rollout };
  const answers = await Promise.all(hooks.map((hook) => callWebhook(hook, payload, signal)));
  const asked = hooks.map((hook, i) => ({ hook, answer: answers[i] as (typeof answers)[number] }));
  const said = Object.fromEntries(asked.map(({ hook, answer }) => [hook.name, describeAnswer(answer)]));
  const rollbackBy = asked.find(({ hook, answer }) => hook.type === 'rollback' && answer.ok)?.hook.name;
  const promotionHeldBy = asked.find(({ hook, answer }) => hook.type === 'confirm-promotion' && !answer.ok)?.hook.name;
  const refused = asked
    .filter(({ hook, answer }) => hook.type !== 'rollback' && hook.type !== 'confirm-promotion' && !answer.ok)
    .map(({ hook }) => `${hook.type} webhook ${hook.name} did not say yes: ${said[hook.name]}`);
  const stop = rollbackBy !== undefined ? `rollback webhook ${rollbackBy} asked for a rollback: ${said[rollbackBy]}` : refused.length > 0 ? refused.join('; ') : undefined;
  const record: Partial<AnalysisResult> = { webhooks: said, ...(rollbackBy === undefined ? {} : { rollbackBy }), ...(promotionHeldBy === undefined ? {} : { promotionHeldBy }) };
  return { stop, record };
}

/** The check's measurement once the hooks let it go on: nothing, the output, or the traffic and the output. */
async function measured(isvc: ImageService, check: CheckDue, now: Date, signal: AbortSignal, providers: Providers, options: MeasureOptions): Promise<AnalysisResult> {
  if (check.measures === 'hooks') return { at: now.toISOString(), passed: true };
  const namespace = isvc.metadata.namespace ?? 'default';
  const canary = trackName(isvc, 'canary');
  const output = outputChecked(isvc.spec) ? await compareOutput(isvc, options, signal) : undefined;
  if (check.measures === 'output') return judgeOutput(output ?? { samples: 0, fromTraffic: 0, failures: [], worstSsim: undefined, worstDeltaE: undefined, diffs: [] }, now).record;
  const target = { namespace, workload: canary, service: canary };
  let outcome: AnalysisOutcome;
  try {
    const provider = providers.for(isvc.spec.canary.analysis);
    outcome = { ok: true, observations: await provider.analyse({ target, intervalMs: check.intervalMs, metrics: check.metrics, signal }) };
  } catch (error) {
    // A cancelled reconcile (shutdown, lost lease) is not a failed check.
    if (signal.aborted) throw error;
    outcome = failure(error);
  }
  return judge(isvc.spec.canary.analysis, outcome, check.intervalMs, now, output).record;
}

function failure(error: unknown): { ok: false; kind: AnalysisError['kind']; message: string } {
  return error instanceof AnalysisError
    ? { ok: false, kind: error.kind, message: error.message }
    : { ok: false, kind: 'bad-answer', message: `the analysis failed: ${error instanceof Error ? error.message : String(error)}` };
}

/**
 * Fetches every sample, the listed ones and those taken from primary's recent traffic, from one
 * ready pod of each revision's Service (not through the mesh: the comparison is of two
 * revisions, whatever the routes say, and needs no Istio) and keeps the failures' visual diffs.
 */
async function compareOutput(isvc: ImageService, options: MeasureOptions, signal: AbortSignal): Promise<OutputVerdict> {
  const namespace = isvc.metadata.namespace ?? 'default';
  const spec = isvc.spec.canary.analysis.output;
  const podOf = async (track: 'primary' | 'canary'): Promise<string> => {
    const service = trackName(isvc, track);
    const pods = await options.endpoints({ namespace, workload: service, service }, signal);
    if (pods.length === 0) throw new AnalysisError('no-targets', `Service ${namespace}/${service} has no ready endpoint`);
    return pods[0]!.url;
  };
  try {
    const secret = isvc.spec.serving.signingKeysSecret;
    // Read at every check and held for this one only: a rotated key signs from the next check on.
    const signingKey = secret ? await options.signingKey(namespace, secret, signal) : undefined;
    const targets = { primary: await podOf('primary'), canary: await podOf('canary') };
    // The record is read from the primary pod that is compared, on its management port.
    const management = new URL(targets.primary);
    management.port = String(managementPort(isvc.spec.traffic.port));
    const traffic = spec.fromTraffic > 0 ? await samplesFromTraffic(management.origin, spec.fromTraffic, spec.samples, spec.timeoutSeconds * 1000, signal) : { samples: [] };
    const result = await checkOutput({ ...spec, samples: [...spec.samples, ...traffic.samples] }, targets, signal, signingKey);
    const diffs = result.failures.flatMap((f) => (f.diff === undefined ? [] : [options.diffs.put(namespace, isvc.metadata.name, f.diff)]));
    const fallback = traffic.samples.length > 0 ? '' : spec.samples.length > 0 ? ': listed samples only' : ': nothing to compare';
    const note = traffic.note === undefined ? {} : { note: `${traffic.note}${fallback}` };
    return {
      samples: result.samples,
      fromTraffic: traffic.samples.length,
      failures: result.failures.map(describeFailure),
      worstSsim: result.worstSsim,
      worstDeltaE: result.worstDeltaE,
      diffs,
      ...note,
    };
  } catch (error) {
    if (signal.aborted) throw error;
    return { samples: 0, fromTraffic: 0, failures: [`output check: ${failure(error).message}`], worstSsim: undefined, worstDeltaE: undefined, diffs: [] };
  }
}
