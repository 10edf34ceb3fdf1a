// `main.ts check-ready NAMESPACE/SERVICE`: what the chart's `helm test` hook runs. Ready means what
// a client of the operator's Service sees: at least one ready endpoint, every ready endpoint's
// /readyz answering 200, and one of them leading (or leader election off, where every replica
// leads). It reads the endpoints through the API (EndpointSlices) and asks the pods directly, so
// it needs neither cluster DNS nor the Service's ClusterIP.
import { z } from 'zod';
import { fetchBounded } from './canary/providers/bounded-fetch.ts';
import type { EndpointSource } from './canary/providers/direct.ts';
import { AnalysisError } from './canary/providers/provider.ts';

const Readyz = z.looseObject({ status: z.string(), leader: z.boolean() });
const LIMITS = { timeoutMs: 5_000, maxBytes: 4096 };

export interface CheckResult {
  ok: boolean;
  /** One line per endpoint, then the verdict. */
  lines: string[];
}

/** Parses `NAMESPACE/SERVICE`; undefined when it is not that. */
export function parseTarget(arg: string | undefined): { namespace: string; service: string } | undefined {
  const m = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/([a-z]([-a-z0-9]*[a-z0-9])?)$/.exec(arg ?? '');
  return m === null ? undefined : { namespace: m[1] ?? '', service: m[3] ?? '' };
}

export async function checkReady(target: { namespace: string; service: string }, endpoints: EndpointSource): Promise<CheckResult> {
  const pods = await endpoints({ ...target, workload: target.service });
  const where = `Service ${target.namespace}/${target.service}`;
  if (pods.length === 0) return { ok: false, lines: [`${where} has no ready endpoint: no operator pod passes its readiness probe`] };
  const lines: string[] = [];
  let ready = 0;
  let leading = 0;
  for (const pod of pods) {
    try {
      const answer = await fetchBounded(`${pod.url}/readyz`, { ...LIMITS, accept: 'application/json', who: `pod ${pod.pod}` });
      const body = Readyz.safeParse(JSON.parse(answer.text));
      if (answer.status !== 200 || !body.success) {
        lines.push(`pod ${pod.pod}: /readyz answered ${answer.status}`);
        continue;
      }
      ready++;
      if (body.data.leader) leading++;
      lines.push(`pod ${pod.pod}: ready${body.data.leader ? ', leading' : ''}`);
    } catch (err) {
      // never the answer's text: JSON.parse quotes it
      if (err instanceof SyntaxError) lines.push(`pod ${pod.pod}: /readyz answered something that is not JSON`);
      else lines.push(`pod ${pod.pod}: ${err instanceof AnalysisError ? err.message : String(err)}`);
    }
  }
  const ok = ready === pods.length && leading >= 1;
  lines.push(ok ? `${where}: ${ready} ready, ${leading} leading` : `${where}: ${ready} of ${pods.length} ready, ${leading} leading: not ready`);
  return { ok, lines };
}
