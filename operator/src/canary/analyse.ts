// The reconciler's Analyse: when decide says a check is due, measure the canary with the
// ImageService's provider and judge the numbers; the reconciler then decides with the result.
import type { AnalysisResult, ImageService, ImageServiceStatus } from '../api/image-service.ts';
import { trackName } from '../build/labels.ts';
import type { Analyse, Observations } from '../rollout.ts';
import { decide } from './decide.ts';
import { AnalysisError } from './providers/provider.ts';
import type { Providers } from './providers/select.ts';
import { judge, type AnalysisOutcome } from './verdict.ts';

export function canaryAnalyse(providers: Providers): Analyse {
  return async (isvc: ImageService, status: ImageServiceStatus, obs: Omit<Observations, 'analysis'>, now: Date, signal: AbortSignal): Promise<AnalysisResult | undefined> => {
    const wanted = decide(isvc.spec, status, { ...obs, analysis: undefined }, now).analyse;
    if (wanted === undefined) return undefined;
    const canary = trackName(isvc, 'canary');
    const target = { namespace: isvc.metadata.namespace ?? 'default', workload: canary, service: canary };
    let outcome: AnalysisOutcome;
    try {
      const provider = providers.for(isvc.spec.canary.analysis);
      outcome = { ok: true, observations: await provider.analyse({ target, intervalMs: wanted.intervalMs, metrics: wanted.metrics, signal }) };
    } catch (error) {
      // A cancelled reconcile (shutdown, lost lease) is not a failed check.
      if (signal.aborted) throw error;
      outcome =
        error instanceof AnalysisError
          ? { ok: false, kind: error.kind, message: error.message }
          : { ok: false, kind: 'bad-answer', message: `the analysis failed: ${error instanceof Error ? error.message : String(error)}` };
    }
    return judge(isvc.spec.canary.analysis, outcome, wanted.intervalMs, now).record;
  };
}
