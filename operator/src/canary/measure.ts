// The reconciler's Measure: measure the canary with the ImageService's provider over the check's
// window and judge the numbers. It runs only when checkDue says a check is due, and knows nothing
// of the decision that follows.
import type { AnalysisResult, ImageService } from '../api/image-service.ts';
import { trackName } from '../build/labels.ts';
import type { CheckDue, Measure } from '../rollout.ts';
import { AnalysisError } from './providers/provider.ts';
import type { Providers } from './providers/select.ts';
import { judge, type AnalysisOutcome } from './verdict.ts';

export function canaryMeasure(providers: Providers): Measure {
  return async (isvc: ImageService, check: CheckDue, now: Date, signal: AbortSignal): Promise<AnalysisResult> => {
    const canary = trackName(isvc, 'canary');
    const target = { namespace: isvc.metadata.namespace ?? 'default', workload: canary, service: canary };
    let outcome: AnalysisOutcome;
    try {
      const provider = providers.for(isvc.spec.canary.analysis);
      outcome = { ok: true, observations: await provider.analyse({ target, intervalMs: check.intervalMs, metrics: check.metrics, signal }) };
    } catch (error) {
      // A cancelled reconcile (shutdown, lost lease) is not a failed check.
      if (signal.aborted) throw error;
      outcome =
        error instanceof AnalysisError
          ? { ok: false, kind: error.kind, message: error.message }
          : { ok: false, kind: 'bad-answer', message: `the analysis failed: ${error instanceof Error ? error.message : String(error)}` };
    }
    return judge(isvc.spec.canary.analysis, outcome, check.intervalMs, now).record;
  };
}
